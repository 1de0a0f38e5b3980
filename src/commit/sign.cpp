// ed25519 signatures in ostree's format, made with OpenSSL. Debian's libostree is built without
// libsodium, so `ostree sign` cannot make them here; the format is small and documented
// (ostree-sign-ed25519.c): the detached metadata key "ostree.sign.ed25519" holds an array of 64-byte
// signatures (aay) over the commit object's bytes. Keys are read in `ostree sign`'s format (base64 of
// the 32-byte seed and the 32-byte public key) or as an OpenSSL PEM private key.

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "imgbuild/commit/commit.hpp"
#include "imgbuild/core/files.hpp"
#include "sign.hpp"
#include "wrap/glib.hpp"

namespace imgbuild::commit {
namespace {

using PKey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

PKey private_key(const SigningKey& key) {
    PKey pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.seed.data(), key.seed.size()),
              &EVP_PKEY_free);
    if (!pkey) throw Error("Failed to load the ed25519 key");
    return pkey;
}

std::array<unsigned char, 32> public_of(EVP_PKEY* pkey) {
    std::array<unsigned char, 32> pub{};
    std::size_t size = pub.size();
    if (EVP_PKEY_get_raw_public_key(pkey, pub.data(), &size) != 1 || size != pub.size())
        throw Error("Failed to derive the ed25519 public key");
    return pub;
}

} // namespace

std::string SigningKey::public_base64() const {
    wrap::GCharPtr text(g_base64_encode(public_key.data(), public_key.size()));
    return text.get();
}

SigningKey read_signing_key(const std::filesystem::path& path) {
    std::string file = readable_path(path);
    std::string text;
    try {
        text = read_file(path);
    } catch (const Error& e) {
        throw KeyError("cannot read the ed25519 key: {}", e.what());
    }
    SigningKey key;
    if (text.starts_with("-----BEGIN")) {
        std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())),
                                                      &BIO_free);
        PKey pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), &EVP_PKEY_free);
        if (!pkey || EVP_PKEY_get_base_id(pkey.get()) != EVP_PKEY_ED25519)
            throw KeyError("'{}' is not an ed25519 private key in PEM form", file);
        std::size_t size = key.seed.size();
        if (EVP_PKEY_get_raw_private_key(pkey.get(), key.seed.data(), &size) != 1 || size != key.seed.size())
            throw KeyError("'{}': cannot read the ed25519 private key", file);
        key.public_key = public_of(pkey.get());
        return key;
    }
    // ostree sign's secret key: base64 of seed ‖ public key, the first line of the file.
    std::string line = text.substr(0, text.find('\n'));
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    gsize length = 0;
    wrap::CPtr<guchar, g_free> raw(g_base64_decode(line.c_str(), &length));
    if (length != 64)
        throw KeyError("'{}' is not an ed25519 secret key: expected base64 of 64 bytes (seed and public key, as "
                       "`ostree sign` reads) or a PEM private key, found {} bytes",
                       file, length);
    std::copy(raw.get(), raw.get() + 32, key.seed.begin());
    std::copy(raw.get() + 32, raw.get() + 64, key.public_key.begin());
    auto pkey = private_key(key);
    if (public_of(pkey.get()) != key.public_key)
        throw KeyError("'{}': the public half of the ed25519 secret key does not match its seed", file);
    return key;
}

std::string sign_bytes(const SigningKey& key, std::string_view data) {
    auto pkey = private_key(key);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
    std::string signature(64, '\0');
    std::size_t size = signature.size();
    if (!context || EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr, pkey.get()) != 1 ||
        EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                       reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
        size != 64)
        throw CommitError("Failed to sign the commit with ed25519");
    return signature;
}

void sign_commit(OstreeRepo* repo, const std::string& checksum, const SigningKey& key) {
    GVariant* commit = nullptr;
    wrap::gcall("load the commit to sign", [&](auto error) {
        return ostree_repo_load_variant(repo, OSTREE_OBJECT_TYPE_COMMIT, checksum.c_str(), &commit, error);
    });
    wrap::GVariantPtr owned(commit);
    std::string signature = sign_bytes(
        key, std::string_view(static_cast<const char*>(g_variant_get_data(commit)), g_variant_get_size(commit)));

    // Keep what the detached metadata already holds (other signatures), add ours once.
    GVariant* existing = nullptr;
    wrap::gcall("read the commit's detached metadata", [&](auto error) {
        return ostree_repo_read_commit_detached_metadata(repo, checksum.c_str(), &existing, nullptr, error);
    });
    wrap::GVariantPtr old(existing);
    GVariantDict dict;
    g_variant_dict_init(&dict, existing);
    GVariantBuilder signatures;
    g_variant_builder_init(&signatures, G_VARIANT_TYPE("aay"));
    if (wrap::GVariantPtr previous{g_variant_dict_lookup_value(&dict, "ostree.sign.ed25519", G_VARIANT_TYPE("aay"))}) {
        for (gsize i = 0; i < g_variant_n_children(previous.get()); ++i) {
            wrap::GVariantPtr child(g_variant_get_child_value(previous.get(), i));
            gsize size = 0;
            const void* data = g_variant_get_fixed_array(child.get(), &size, 1);
            if (std::string_view(static_cast<const char*>(data), size) != signature)
                g_variant_builder_add_value(&signatures, child.get());
        }
    }
    g_variant_builder_add_value(&signatures,
                                g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, signature.data(), signature.size(), 1));
    g_variant_dict_insert_value(&dict, "ostree.sign.ed25519", g_variant_builder_end(&signatures));
    auto metadata = wrap::take(g_variant_dict_end(&dict));
    wrap::gcall("write the commit's signature", [&](auto error) {
        return ostree_repo_write_commit_detached_metadata(repo, checksum.c_str(), metadata.get(), nullptr, error);
    });
}

} // namespace imgbuild::commit

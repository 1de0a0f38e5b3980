// Signature checks with gpgme in a private GNUPGHOME holding only the recipe's keys: a signature is
// good when gpg reports it valid (GPG_ERR_NO_ERROR) and it was made by one of those keys. Trust levels
// do not apply; the keyring itself is the trust decision, as with apt's Signed-By and gpgv.

#include "signature.hpp"

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "imgbuild/core/download.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "wrap/gpgme.hpp"

namespace imgbuild::resolve {

struct Verifier::State {
    std::filesystem::path home;
    std::set<std::string> fingerprints; // of the imported keys and their subkeys
    wrap::GpgmeContext context;

    ~State() {
        context.reset();
        // A gpg that gpgme has not reaped yet may still hold the directory for a moment.
        std::error_code ec;
        for (int attempt = 0; attempt < 20; ++attempt) {
            std::filesystem::remove_all(home, ec);
            if (!ec && !std::filesystem::exists(home, ec)) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        log::debug("could not remove the GnuPG home '{}': {}", home.string(), ec.message());
    }
};

namespace {

void init_gpgme() {
    static std::once_flag once;
    std::call_once(once, [] { gpgme_check_version(nullptr); });
}

std::string describe(gpgme_signature_t signature) {
    return fmt::format("{} ({})", signature->fpr ? signature->fpr : "unknown key", gpgme_strerror(signature->status));
}

} // namespace

Verifier::Verifier(const std::filesystem::path& keyring) : m_state(std::make_unique<State>()), m_keyring(keyring) {
    init_gpgme();
    std::string reason;
    auto keys = try_read_file(keyring, reason);
    if (!keys) throw FetchError("Failed to read the keyring '{}': {}", keyring.string(), reason);

    std::string home = (std::filesystem::temp_directory_path() / "imgbuild-gnupg-XXXXXX").string();
    if (!mkdtemp(home.data())) throw SysError(errno, "create a GnuPG home");
    m_state->home = home;
    // The home is ours alone and removed afterwards: no agent, no lock files, no random seed, so no gpg
    // process still writing into it when gpgme returns (gpgme does not wait for gpg to exit).
    write_file_atomic(std::filesystem::path(home) / "gpg.conf", "no-autostart\nlock-never\nno-random-seed-file\n",
                      0600);

    gpgme_ctx_t context = nullptr;
    wrap::gpgme_check(gpgme_new(&context), "start gpgme");
    m_state->context.reset(context);
    wrap::gpgme_check(gpgme_ctx_set_engine_info(context, GPGME_PROTOCOL_OpenPGP, nullptr, home.c_str()),
                      "set the GnuPG home");
    gpgme_set_offline(context, 1);

    auto data = wrap::gpgme_data_of(*keys);
    wrap::gpgme_check(gpgme_op_import(context, data.get()), fmt::format("import the keys of '{}'", keyring.string()));
    gpgme_import_result_t result = gpgme_op_import_result(context);
    if (!result || result->imported + result->unchanged == 0)
        throw FetchError("Failed to import any key from the keyring '{}'", keyring.string());

    // Remember every key (and subkey) fingerprint, since signatures name the subkey that signed.
    gpgme_op_keylist_start(context, nullptr, 0);
    for (gpgme_key_t key = nullptr; gpgme_op_keylist_next(context, &key) == 0; gpgme_key_unref(key))
        for (gpgme_subkey_t sub = key->subkeys; sub; sub = sub->next)
            if (sub->fpr) m_state->fingerprints.insert(sub->fpr);
    gpgme_op_keylist_end(context);
    log::debug("imported {} keys from {}", m_state->fingerprints.size(), keyring.string());
}

Verifier::~Verifier() = default;

std::string Verifier::verify_clearsigned(std::string_view text, const std::string& what) const {
    auto signed_data = wrap::gpgme_data_of(text);
    auto plain = wrap::gpgme_data_empty();
    gpgme_error_t error = gpgme_op_verify(m_state->context.get(), signed_data.get(), nullptr, plain.get());
    if (gpgme_err_code(error) != GPG_ERR_NO_ERROR)
        throw FetchError("Failed to verify {}: it is not a signed document ({})", what, gpgme_strerror(error));
    gpgme_verify_result_t result = gpgme_op_verify_result(m_state->context.get());
    std::vector<std::string> seen;
    for (gpgme_signature_t signature = result ? result->signatures : nullptr; signature; signature = signature->next) {
        if (gpgme_err_code(signature->status) == GPG_ERR_NO_ERROR && signature->fpr &&
            m_state->fingerprints.count(signature->fpr))
            return wrap::gpgme_data_string(plain.get());
        seen.push_back(describe(signature));
    }
    throw FetchError("Failed to verify {}: no good signature by a key in '{}'{}", what, m_keyring.string(),
                     seen.empty() ? std::string(" (it has no signature)")
                                  : fmt::format(" (signatures: {})", fmt::join(seen, ", ")));
}

void Verifier::verify_detached(std::string_view data, std::string_view signature, const std::string& what) const {
    auto signature_data = wrap::gpgme_data_of(signature);
    auto signed_data = wrap::gpgme_data_of(data);
    gpgme_error_t error = gpgme_op_verify(m_state->context.get(), signature_data.get(), signed_data.get(), nullptr);
    if (gpgme_err_code(error) != GPG_ERR_NO_ERROR)
        throw FetchError("Failed to verify {}: the signature cannot be read ({})", what, gpgme_strerror(error));
    gpgme_verify_result_t result = gpgme_op_verify_result(m_state->context.get());
    std::vector<std::string> seen;
    for (gpgme_signature_t sig = result ? result->signatures : nullptr; sig; sig = sig->next) {
        if (gpgme_err_code(sig->status) == GPG_ERR_NO_ERROR && sig->fpr && m_state->fingerprints.count(sig->fpr))
            return;
        seen.push_back(describe(sig));
    }
    throw FetchError("Failed to verify {}: no good signature by a key in '{}'{}", what, m_keyring.string(),
                     seen.empty() ? std::string(" (no signature)")
                                  : fmt::format(" (signatures: {})", fmt::join(seen, ", ")));
}

} // namespace imgbuild::resolve

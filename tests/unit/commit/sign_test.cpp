// ed25519 keys in both forms read_signing_key accepts (PEM and `ostree sign`'s base64), checked against
// the openssl CLI, and signatures from sign_bytes verified by it.

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "commit/sign.hpp"
#include "imgbuild/commit/commit.hpp"
#include "imgbuild/core/files.hpp"
#include "support/command.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::commit {
namespace {

namespace fs = std::filesystem;

using test::run_command;
using test::TempDirTest;
using namespace std::string_literals;

std::string bytes(const std::array<unsigned char, 32>& array) { return std::string(array.begin(), array.end()); }

// Keys A and B made with openssl in DIR: a.pem (PKCS#8), a.pub.pem, a.seed and a.pub (the raw 32 bytes),
// a.key (ostree's format: base64 of seed and public key on one line); the same for b.
class SigningKeyTest : public TempDirTest {
protected:
    void SetUp() override {
        if (run_command({"sh", "-c", "command -v openssl"}).exit_code != 0)
            GTEST_SKIP() << "skipped: the openssl command is not installed";
        for (const char* name : {"a", "b"}) make_key(name);
    }

    // Runs a shell command in DIR; fails the test when it fails.
    void sh(const std::string& command) const {
        auto result = run_command({"sh", "-c", command}, dir.path());
        ASSERT_EQ(result.exit_code, 0) << command << "\n" << result.err;
    }

    void make_key(const std::string& name) const {
        sh(fmt::format("openssl genpkey -algorithm ed25519 -out {0}.pem && "
                       "openssl pkey -in {0}.pem -pubout -out {0}.pub.pem && "
                       "openssl pkey -outform DER -in {0}.pem | tail -c 32 > {0}.seed && "
                       "openssl pkey -outform DER -pubout -in {0}.pem | tail -c 32 > {0}.pub && "
                       "cat {0}.seed {0}.pub | base64 -w0 > {0}.key",
                       name));
    }

    fs::path at(const std::string& name) const { return dir.path() / name; }

    std::string key_error(const fs::path& path) const {
        try {
            read_signing_key(path);
        } catch (const KeyError& e) {
            return e.what();
        }
        return "no error";
    }
};

// Both forms of the same key give the same seed and public key, those openssl shows.
TEST_F(SigningKeyTest, PemAndOstreeFormsAgree) {
    auto pem = read_signing_key(at("a.pem"));
    auto ostree = read_signing_key(at("a.key"));
    EXPECT_EQ(bytes(pem.seed), read_file(at("a.seed")));
    EXPECT_EQ(bytes(pem.public_key), read_file(at("a.pub")));
    EXPECT_EQ(pem.seed, ostree.seed);
    EXPECT_EQ(pem.public_key, ostree.public_key);
    EXPECT_NE(read_signing_key(at("b.pem")).public_key, pem.public_key);

    auto base64 = run_command({"base64", "-w0", at("a.pub").string()});
    ASSERT_EQ(base64.exit_code, 0) << base64.err;
    EXPECT_EQ(pem.public_base64(), base64.out);
    EXPECT_EQ(pem.public_base64().size(), 44u);
}

// `ostree sign` key files end with a newline, and may hold more lines: the first line is the key.
TEST_F(SigningKeyTest, OstreeFormReadsTheFirstLine) {
    std::string line = read_file(at("a.key"));
    write_file_atomic(at("lines.key"), line + "\r\n" + read_file(at("b.key")) + "\n");
    EXPECT_EQ(read_signing_key(at("lines.key")).public_key, read_signing_key(at("a.pem")).public_key);
}

// sign_bytes makes the ed25519 signature openssl verifies (and that fails for other data).
TEST_F(SigningKeyTest, SignaturesVerifyWithOpenssl) {
    auto key = read_signing_key(at("a.key"));
    std::string data = "commit object bytes\0with a NUL"s;
    auto signature = sign_bytes(key, data);
    ASSERT_EQ(signature.size(), 64u);
    EXPECT_EQ(sign_bytes(key, data), signature) << "ed25519 signatures are deterministic";
    write_file_atomic(at("data.bin"), data);
    write_file_atomic(at("sig.bin"), signature);
    auto verify = [&](const std::string& pub) {
        return run_command({"openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", "data.bin",
                            "-sigfile", "sig.bin"},
                           dir.path());
    };
    auto good = verify("a.pub.pem");
    EXPECT_EQ(good.exit_code, 0) << good.out << good.err;
    EXPECT_NE(verify("b.pub.pem").exit_code, 0) << "another key's public half";
    write_file_atomic(at("data.bin"), data + "!");
    EXPECT_NE(verify("a.pub.pem").exit_code, 0) << "tampered data";
}

TEST_F(SigningKeyTest, WrongLengthIsRefused) {
    sh("cat a.seed a.pub | head -c 63 | base64 -w0 > short.key");
    auto error = key_error(at("short.key"));
    EXPECT_NE(error.find("64 bytes"), std::string::npos) << error;
    EXPECT_NE(error.find("found 63 bytes"), std::string::npos) << error;
    EXPECT_NE(error.find("short.key"), std::string::npos) << error;
    write_file_atomic(at("empty.key"), "");
    EXPECT_NE(key_error(at("empty.key")).find("64 bytes"), std::string::npos);
}

TEST_F(SigningKeyTest, MismatchedHalvesAreRefused) {
    sh("cat a.seed b.pub | base64 -w0 > mixed.key");
    auto error = key_error(at("mixed.key"));
    EXPECT_NE(error.find("does not match"), std::string::npos) << error;
}

TEST_F(SigningKeyTest, OtherKeysAreRefused) {
    sh("openssl genpkey -algorithm rsa -pkeyopt rsa_keygen_bits:1024 -out rsa.pem");
    auto error = key_error(at("rsa.pem"));
    EXPECT_NE(error.find("is not an ed25519 private key"), std::string::npos) << error;
    error = key_error(at("a.pub.pem"));
    EXPECT_NE(error.find("is not an ed25519 private key"), std::string::npos) << "a public key: " << error;
    error = key_error(at("missing.key"));
    EXPECT_NE(error.find("cannot read"), std::string::npos) << error;
}

} // namespace
} // namespace imgbuild::commit

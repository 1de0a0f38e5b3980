#pragma once
// OpenPGP verification of repository metadata (Debian's InRelease, rpm-md's repomd.xml.asc) against
// exactly the keys a recipe names, never the host's or the user's keyring.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace imgbuild::resolve {

class Verifier {
public:
    // Imports the keys of `keyring` (binary keyring or armored keys) into a private GnuPG home.
    explicit Verifier(const std::filesystem::path& keyring);
    ~Verifier();
    Verifier(const Verifier&) = delete;
    Verifier& operator=(const Verifier&) = delete;

    // Checks a clearsigned text and returns what was signed (never the unsigned text around it).
    // Throws FetchError naming `what` when no signature is good and made by one of the keys.
    std::string verify_clearsigned(std::string_view text, const std::string& what) const;
    // Checks a detached (armored or binary) signature of `data`.
    void verify_detached(std::string_view data, std::string_view signature, const std::string& what) const;

private:
    struct State;
    std::unique_ptr<State> m_state;
    std::filesystem::path m_keyring;
};

} // namespace imgbuild::resolve

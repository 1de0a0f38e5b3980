#pragma once
// ed25519 signing of commits in ostree's format.

#include <string>
#include <string_view>

#include "imgbuild/commit/commit.hpp"

// libostree's repository, declared as ostree-types.h does, so this header needs no GLib.
typedef struct OstreeRepo OstreeRepo;

namespace imgbuild::commit {

// The 64-byte ed25519 signature of `data`.
std::string sign_bytes(const SigningKey& key, std::string_view data);

// Adds the key's signature of the commit to its detached metadata ("ostree.sign.ed25519").
void sign_commit(OstreeRepo* repo, const std::string& checksum, const SigningKey& key);

} // namespace imgbuild::commit

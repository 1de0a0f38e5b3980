#pragma once
// What an image tree's package database says about its installed packages (dpkg's status and
// /usr/share/doc/*/copyright, or the rpmdb through librpm), read through a RootDir so the tree's links
// lead nowhere else. Raw facts only: what they mean for an SBOM (supplier, SPDX license) is sbom.cpp's.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "imgbuild/core/root_dir.hpp"
#include "imgbuild/resolve/lock.hpp"

namespace imgbuild::image {

struct InstalledPackage {
    std::string maintainer;               // dpkg: Maintainer
    std::optional<std::string> copyright; // dpkg: /usr/share/doc/<package>/copyright (nullopt: unreadable)
    std::string vendor;                   // rpm: Vendor (trimmed)
    std::string packager;                 // rpm: Packager (trimmed)
    std::string license;                  // rpm: License (trimmed)
};

// (name, arch) → what the database says.
using PackageDatabase = std::map<std::pair<std::string, std::string>, InstalledPackage>;

// The installed packages of a Debian tree; empty (with a warning) without a readable status file.
PackageDatabase read_dpkg(const RootDir& root);

// The installed packages of an rpm tree, read from a copy of its database; empty (with a warning)
// when it has none or it cannot be read.
PackageDatabase read_rpmdb(const RootDir& root);

// The database's entry for a locked package: by name and arch, else by the name alone when unique (an
// arch the database spells differently). nullptr when there is none.
const InstalledPackage* lookup(const PackageDatabase& database, const resolve::LockedPackage& package);

// `relative` read inside the image's tree: an absolute link in the image (usr/share/doc/libfoo1 →
// /usr/share/doc/foo-common) leads into the image, never to the host. nullopt when it cannot be read.
std::optional<std::string> read_in_root(const RootDir& root, const std::filesystem::path& relative);

} // namespace imgbuild::image

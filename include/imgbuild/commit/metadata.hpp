#pragma once
// The keys imgbuild records in a commit's metadata (ostree's a{sv}, every value a string), in one
// place: the pipeline writes them, the image stage, `imgbuild test` and `imgbuild diff` read them back
// from a repository alone. A node's `ostree show` lists them, so their names are a published format:
// add keys, never rename one.
#include <string_view>

namespace imgbuild::commit::key {

// The recipe's name: (the image's name).
inline constexpr std::string_view recipe = "imgbuild.recipe";
// "sha256:…" of the recipe as resolved (resolve::recipe_digest).
inline constexpr std::string_view recipe_digest = "imgbuild.recipe-digest";
// "sha256:…" of the lockfile's text.
inline constexpr std::string_view lock_digest = "imgbuild.lock-digest";
// "sha256:…" of `inputs` below: equal digests, equal builds (the reuse check).
inline constexpr std::string_view inputs_digest = "imgbuild.inputs-digest";
// The build's inputs as JSON: the canonical recipe, imgbuild's version, the packages, local files'
// digests. The next build compares against it to say what changed (--explain).
inline constexpr std::string_view inputs = "imgbuild.inputs";
// The package format ("deb", "rpm") and architecture of the lock.
inline constexpr std::string_view format = "imgbuild.format";
inline constexpr std::string_view arch = "imgbuild.arch";
// "imgbuild VERSION (git REVISION)" that made the commit.
inline constexpr std::string_view tool = "imgbuild.tool";
// The ref the commit was made for.
inline constexpr std::string_view ref = "imgbuild.ref";
// The image settings (image::ImageSettings as JSON): what `imgbuild image` needs of the recipe.
inline constexpr std::string_view image = "imgbuild.image";
// The lockfile's text: the SBOM and `imgbuild diff` read the packages from it.
inline constexpr std::string_view lock = "imgbuild.lock";
// "name version arch" per installed package, a string array (commit::CommitOptions::packages).
inline constexpr std::string_view packages = "imgbuild.packages";
// Tree cache entries (not published commits): the install settings' digest and the set's package lines.
inline constexpr std::string_view install_settings = "imgbuild.install.settings";
inline constexpr std::string_view install_packages = "imgbuild.install.packages";

} // namespace imgbuild::commit::key

#pragma once
// `imgbuild test --user-data FILE`: the user data a node gets at its first boot, read and checked on the
// host (a #cloud-config YAML mapping or a #! script, as cloud-init takes them), what its booted image
// must show for it (hostname, written files, commands run), and the NoCloud seed disk that carries it.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace imgbuild::verify {

// A write_files entry whose result the check can know.
struct WrittenFile {
    std::string path;
    std::string content;                    // as written: plain text (or base64-decoded)
    bool content_known = true;              // false for gzip: only the file's presence is checked
    bool append = false;                    // the file ends with `content`
    std::optional<std::string> permissions; // octal, without leading zeros ("644")
    std::optional<std::string> owner;       // user:group
};

struct UserData {
    std::filesystem::path file;
    std::string text;
    std::string sha256;
    bool script = false; // #! (run by cloud-init's scripts-user) rather than #cloud-config
    std::optional<std::string> hostname;
    std::vector<WrittenFile> files;
    bool commands = false; // runcmd (or the script itself): cloud-init's scripts-user must run them
};

// The user data in `text` (named `file` in errors). Throws UsageError "FILE:LINE:COL: …" for YAML that
// does not parse or a key of the wrong shape, and "FILE: …" for text that is neither #cloud-config
// (a YAML mapping) nor a #! script.
UserData parse_user_data(const std::string& text, const std::filesystem::path& file);
// The same for a file; UsageError naming it when it cannot be read.
UserData read_user_data(const std::filesystem::path& file);

// The NoCloud seed: a FAT filesystem labelled CIDATA holding user-data and meta-data (a fresh
// instance-id, so cloud-init treats the boot as an instance's first), made with mkfs.vfat and mtools in
// `work` (nothing is mounted).
void write_seed_disk(const std::filesystem::path& path, const UserData& user_data, const std::string& instance_id,
                     const std::filesystem::path& work);

} // namespace imgbuild::verify

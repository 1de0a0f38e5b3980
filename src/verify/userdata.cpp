// The user data of `imgbuild test --user-data`: parsed with yaml-cpp (a #cloud-config must be a YAML
// mapping, as cloud-init requires) into what the booted node must show, and packed as a NoCloud seed
// (a FAT disk labelled CIDATA, filled with mtools: no mount).

#include "userdata.hpp"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/process.hpp"
#include "imgbuild/verify/verify.hpp"

namespace imgbuild::verify {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail_at(const fs::path& file, const YAML::Mark& mark, const std::string& why) {
    if (mark.is_null()) throw UsageError("{}: {}", file.string(), why);
    // The YAML starts on the file's first line ("#cloud-config" is a comment of the document).
    throw UsageError("{}:{}:{}: {}", file.string(), mark.line + 1, mark.column + 1, why);
}

std::optional<std::string> decode_base64(const std::string& text) {
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        int value;
        if (c >= 'A' && c <= 'Z')
            value = c - 'A';
        else if (c >= 'a' && c <= 'z')
            value = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            value = c - '0' + 52;
        else if (c == '+')
            value = 62;
        else if (c == '/')
            value = 63;
        else if (c == '=' || c == '\n' || c == '\r' || c == ' ' || c == '\t')
            continue;
        else
            return std::nullopt;
        buffer = (buffer << 6) | static_cast<unsigned>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xff);
        }
    }
    return out;
}

std::string scalar(const YAML::Node& node, const fs::path& file, const std::string& what) {
    if (!node.IsScalar()) fail_at(file, node.Mark(), what + " must be a string");
    return node.as<std::string>();
}

WrittenFile written_file(const YAML::Node& entry, const fs::path& file) {
    if (!entry.IsMap()) fail_at(file, entry.Mark(), "each write_files entry must be a mapping with a path");
    WrittenFile result;
    if (!entry["path"]) fail_at(file, entry.Mark(), "a write_files entry has no path");
    result.path = scalar(entry["path"], file, "write_files path");
    if (!result.path.starts_with('/'))
        fail_at(file, entry["path"].Mark(), fmt::format("write_files path '{}' is not absolute", result.path));
    if (result.path.find('\n') != std::string::npos)
        fail_at(file, entry["path"].Mark(), "a write_files path holds a line break");
    if (entry["content"] && !entry["content"].IsNull()) result.content = scalar(entry["content"], file, "content");
    std::string encoding = entry["encoding"] ? scalar(entry["encoding"], file, "encoding") : "text/plain";
    if (encoding == "b64" || encoding == "base64") {
        auto decoded = decode_base64(result.content);
        if (!decoded) fail_at(file, entry["content"].Mark(), "content is not base64 although its encoding says so");
        result.content = *decoded;
    } else if (encoding == "gz" || encoding == "gzip" || encoding == "gz+base64" || encoding == "gzip+base64" ||
               encoding == "gz+b64" || encoding == "gzip+b64") {
        result.content_known = false;
    } else if (encoding != "text/plain") {
        fail_at(file, entry["encoding"].Mark(), fmt::format("unknown write_files encoding '{}'", encoding));
    }
    if (entry["append"]) result.append = entry["append"].IsScalar() && entry["append"].as<std::string>() == "true";
    if (entry["permissions"]) {
        std::string mode = scalar(entry["permissions"], file, "permissions");
        if (mode.starts_with("0o")) mode = mode.substr(2);
        if (mode.empty() || mode.find_first_not_of("01234567") != std::string::npos)
            fail_at(file, entry["permissions"].Mark(), fmt::format("permissions '{}' is not an octal mode", mode));
        mode.erase(0, std::min(mode.find_first_not_of('0'), mode.size() - 1));
        result.permissions = mode;
    }
    if (entry["owner"]) result.owner = scalar(entry["owner"], file, "owner");
    return result;
}

} // namespace

UserData parse_user_data(const std::string& text, const fs::path& file) {
    UserData data;
    data.file = file;
    data.text = text;
    data.sha256 = sha256_hex(text);
    if (text.starts_with("#!")) {
        data.script = true;
        data.commands = true;
        return data;
    }
    auto first_line = text.substr(0, text.find('\n'));
    if (!first_line.empty() && first_line.back() == '\r') first_line.pop_back();
    while (!first_line.empty() && (first_line.back() == ' ' || first_line.back() == '\t')) first_line.pop_back();
    if (first_line != "#cloud-config")
        throw UsageError("{}: not user data imgbuild test can check: its first line must be '#cloud-config' (a YAML "
                         "mapping) or '#!' (a script), not '{}'",
                         file.string(), first_line.substr(0, 60));
    YAML::Node document;
    try {
        document = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        fail_at(file, e.mark, e.msg);
    }
    if (document.IsNull()) return data; // "#cloud-config" alone: nothing to do, as cloud-init sees it
    if (!document.IsMap())
        fail_at(file, document.Mark(),
                "a #cloud-config document must be a YAML mapping (key: value), not a list or a "
                "single value");
    try {
        if (auto hostname = document["hostname"]) data.hostname = scalar(hostname, file, "hostname");
        if (auto files = document["write_files"]) {
            if (!files.IsSequence()) fail_at(file, files.Mark(), "write_files must be a list");
            for (const auto& entry : files) data.files.push_back(written_file(entry, file));
        }
        if (auto runcmd = document["runcmd"]) {
            if (!runcmd.IsSequence()) fail_at(file, runcmd.Mark(), "runcmd must be a list of commands");
            data.commands = runcmd.size() > 0;
        }
    } catch (const YAML::Exception& e) {
        fail_at(file, e.mark, e.msg);
    }
    return data;
}

UserData read_user_data(const fs::path& file) {
    std::string reason;
    std::error_code ec;
    if (!fs::is_regular_file(file, ec))
        throw UsageError("--user-data '{}': {}", file.string(),
                         fs::exists(file, ec) ? "not a regular file" : "no such file");
    auto text = try_read_file(file, reason);
    if (!text) throw UsageError("Failed to read the user data '{}': {}", file.string(), reason);
    if (text->size() > (16u << 20)) throw UsageError("--user-data '{}': larger than 16 MiB", file.string());
    return parse_user_data(*text, file);
}

void write_seed_disk(const fs::path& path, const UserData& user_data, const std::string& instance_id,
                     const fs::path& work) {
    fs::path user = work / "seed-user-data", meta = work / "seed-meta-data";
    write_file_atomic(user, user_data.text);
    write_file_atomic(meta, fmt::format("instance-id: {}\n", instance_id));
    std::uint64_t kib = std::max<std::uint64_t>(1024, user_data.text.size() / 1024 * 2 + 512);
    fs::remove(path);
    run_checked<VerifyError>(ProcessOptions{{"mkfs.vfat", "-n", "CIDATA", "-C", path.string(), std::to_string(kib)}},
                             "make the NoCloud seed disk (package dosfstools)");
    for (const auto& [from, name] : {std::pair{user, "user-data"}, std::pair{meta, "meta-data"}})
        run_checked<VerifyError>(
            ProcessOptions{.argv = {"mcopy", "-i", path.string(), from.string(), std::string("::") + name},
                           .env = {"MTOOLS_SKIP_CHECK=1"}},
            fmt::format("copy {} onto the NoCloud seed disk (package mtools)", name));
}

} // namespace imgbuild::verify

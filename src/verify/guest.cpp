// The guest side of `imgbuild test` as pure text: the shell program each boot runs (built from what the
// manifest says the image must be), and the parsing of its "KEY VALUE" report, of systemd-analyze and
// of ostree's status into checks. No I/O here, so every check is unit-tested without booting.

#include "guest.hpp"

#include <algorithm>
#include <functional>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "imgbuild/core/digest.hpp"
#include "imgbuild/core/strings.hpp"

namespace imgbuild::verify {
namespace {

using json = nlohmann::json;

std::string words(const std::vector<std::string>& items) {
    std::string result;
    for (const auto& item : items) result += (result.empty() ? "" : " ") + single_quoted(item);
    return result;
}

// Sysctl values compare as the kernel prints them: words separated by one space.
std::string collapse(const std::string& text) {
    std::istringstream in(text);
    std::string word, result;
    while (in >> word) result += (result.empty() ? "" : " ") + word;
    return result;
}

constexpr std::string_view program_head = R"SH(#!/bin/sh
# imgbuild test: the checks of one boot, read from a disk of its own by systemd's run generator
# (systemd.run="/bin/sh /dev/vdb PHASE" on the kernel command line, added at the boot menu by the
# harness). Nothing of it is in the image. Results go to the second serial port, one "KEY VALUE" line
# each. The disk holds this text padded with zeros: every path through it ends in exit.
phase=$1
if [ "${IMGBUILD_TEST_UNIT:-}" != 1 ]; then
    # kernel-command-line.service is a oneshot of the boot transaction: waiting for the boot in it would
    # wait for itself. A transient unit of its own waits instead.
    exec systemd-run --quiet --unit="imgbuild-test-$phase" --setenv=IMGBUILD_TEST_UNIT=1 /bin/sh "$0" "$phase"
fi
out=/dev/ttyS1
stty -F "$out" raw -echo 2>/dev/null
# Each line starts on a fresh line: OVMF mirrors its console to every serial port, so firmware and
# GRUB output may precede the report on this one.
say() { printf '\n%s\n' "$*" > "$out"; }
say "begin $phase"
say "state $(systemctl is-system-running --wait 2>/dev/null)"
failed=$(systemctl list-units --state=failed --plain --no-legend --no-pager | cut -d' ' -f1)
for unit in $failed; do say "failed $unit"; done
say "analyze $(systemd-analyze time 2>/dev/null | head -n 1)"
say "kernel $(uname -r)"
say "cmdline $(cat /proc/cmdline)"
ostree admin status 2>&1 | while IFS= read -r line; do say "status $line"; done
for dir in /usr /etc /var; do
    if touch "$dir/.imgbuild-test" 2>/dev/null; then rm -f "$dir/.imgbuild-test"; say "writable $dir yes"
    else say "writable $dir no"; fi
done
)SH";

constexpr std::string_view program_tail = R"SH(say "marker $(cat /etc/imgbuild-test-marker 2>/dev/null)"
for unit in $failed; do
    journalctl -b -u "$unit" --no-pager -n 8 -o cat 2>/dev/null | while IFS= read -r line; do say "journal $unit $line"; done
done
status_after() { ostree admin status 2>&1 | while IFS= read -r line; do say "status-after $line"; done; }
case $phase in
upgrade)
    echo "$marker" > /etc/imgbuild-test-marker
    udevadm settle 2>/dev/null
    updates=/dev/disk/by-id/virtio-imgbuild-updates
    case $remote_url in
    file://*)
        # The node's own remote: the update disk is mounted where its URL points, and the upgrade is
        # the one a node runs.
        path=${remote_url#file://}
        mkdir -p "$path" && mount -o ro "$updates" "$path" &&
            ostree admin upgrade --os="$osname" --override-commit="$target" > /run/imgbuild-upgrade.log 2>&1
        rc=$? ;;
    *)
        mkdir -p /run/imgbuild-updates && mount -o ro "$updates" /run/imgbuild-updates &&
            ostree pull-local --remote="$remote" /run/imgbuild-updates "$ref" > /run/imgbuild-upgrade.log 2>&1 &&
            printf '[origin]\nrefspec=%s:%s\n' "$remote" "$ref" > /run/imgbuild-origin &&
            ostree admin deploy --os="$osname" --origin-file=/run/imgbuild-origin "$target" >> /run/imgbuild-upgrade.log 2>&1
        rc=$? ;;
    esac
    while IFS= read -r line; do say "upgrade-log $line"; done < /run/imgbuild-upgrade.log
    say "upgrade $rc"
    status_after
    say "end $phase"
    systemctl reboot --no-block ;;
upgraded|first-boot)
    say "end $phase"
    systemctl reboot --no-block ;;
rollback)
    # Booted from the previous menu entry; undeploying the newer deployment makes this one the default.
    ostree admin undeploy 0 > /run/imgbuild-rollback.log 2>&1
    rc=$?
    while IFS= read -r line; do say "rollback-log $line"; done < /run/imgbuild-rollback.log
    say "rollback $rc"
    status_after
    say "end $phase"
    systemctl poweroff --no-block ;;
*)
    say "end $phase"
    systemctl poweroff --no-block ;;
esac
exit 0
)SH";

// cloud-init, whether or not the boot has a seed: its status once it is done (it must not be left
// running or failed), what it took, and on trouble its errors and log.
constexpr std::string_view cloud_init_section = R"SH(if command -v cloud-init >/dev/null 2>&1; then
    ci_status=$(timeout 300 cloud-init status --wait 2>/dev/null | sed -n 's/^status: *//p' | tail -n 1)
    say "cloud-init-status ${ci_status:-unknown}"
    [ -r /run/cloud-init/result.json ] && say "cloud-init-result $(tr -d '\n' < /run/cloud-init/result.json)"
    systemd-analyze blame --no-pager 2>/dev/null | grep -E 'cloud-(init|config|final)' |
        while IFS= read -r line; do say "cloud-init-blame $line"; done
    case $ci_status in
    done|disabled) ;;
    *)
        cloud-init status --long 2>&1 | while IFS= read -r line; do say "cloud-init-long $line"; done
        grep -E 'WARNING|ERROR|Traceback|[Ff]ailed' /var/log/cloud-init.log 2>/dev/null | tail -n 40 |
            while IFS= read -r line; do say "cloud-init-log $line"; done ;;
    esac
else
    say "cloud-init-status absent"
fi
)SH";

// The user data's effects: hostname, each written file (its sha256, the sha256 of its last LEN bytes
// for an append, mode, owner, size, first line), the scripts cloud-init ran and their output.
constexpr std::string_view user_data_section = R"SH(say "hostname $(hostname)"
say "user-data $(sha256sum /var/lib/cloud/instance/user-data.txt 2>/dev/null | cut -d' ' -f1)"
check_file() {
    if [ -f "$2" ]; then
        say "file $1 $(sha256sum < "$2" | cut -d' ' -f1) $(tail -c "$3" "$2" | sha256sum | cut -d' ' -f1) $(stat -c '%a %U:%G %s' "$2")"
        say "file-head $1 $(head -c 300 "$2" | head -n 1)"
    else
        say "file $1 missing"
    fi
}
for script in /var/lib/cloud/instance/scripts/*; do [ -e "$script" ] && say "script ${script##*/}"; done
tail -n 80 /var/log/cloud-init-output.log 2>/dev/null | while IFS= read -r line; do say "output-log $line"; done
)SH";

// containerd as kubelet needs it: the CRI plugin, its configuration, and a container it runs from the
// busybox root filesystem on the harness's disk, in a scope of a systemd slice.
constexpr std::string_view containerd_section = R"SH(say "containerd-version $(containerd --version 2>&1)"
ctr plugins ls 2>&1 | grep -E '^io\.containerd\.grpc\.v1[[:space:]]+cri[[:space:]]' |
    while IFS= read -r line; do say "ctr-plugin $line"; done
containerd config dump 2>/dev/null |
    grep -E '^[[:space:]]*(SystemdCgroup|snapshotter|sandbox_image|default_runtime_name)[[:space:]]*=' |
    while IFS= read -r line; do say "containerd-config $(echo $line)"; done
udevadm settle 2>/dev/null
rootfs=/run/imgbuild-test-rootfs id=imgbuild-test-$$
mkdir -p "$rootfs" &&
    tar -x -f /dev/disk/by-id/virtio-imgbuild-rootfs -C "$rootfs" > /run/imgbuild-ctr.log 2>&1 &&
    ctr run --rm --rootfs --runc-systemd-cgroup --cgroup "system.slice:imgbuild:$id" "$rootfs" "$id" \
        /bin/busybox cat /proc/self/cgroup >> /run/imgbuild-ctr.log 2>&1
say "ctr-run $?"
while IFS= read -r line; do say "ctr-output $line"; done < /run/imgbuild-ctr.log
)SH";

// The root after growth: the disk's and the root partition's sizes (sectors), its ext4's size (bytes),
// and what systemd-repart and the growfs units logged this boot.
constexpr std::string_view growth_section = R"SH(src=
while read -r dev mnt rest; do [ "$mnt" = /sysroot ] && [ -z "$src" ] && src=$dev; done < /proc/mounts
[ -n "$src" ] || while read -r dev mnt rest; do [ "$mnt" = / ] && [ -z "$src" ] && src=$dev; done < /proc/mounts
part=$(basename "$(readlink -f "$src")")
disk=$(basename "$(readlink -f "/sys/class/block/$part/..")")
say "grow-disk $disk $(cat "/sys/class/block/$disk/size" 2>/dev/null)"
say "grow-partition $part $(cat "/sys/class/block/$part/start" 2>/dev/null) $(cat "/sys/class/block/$part/size" 2>/dev/null)"
if sb=$(dumpe2fs -h "/dev/$part" 2>/dev/null); then
    count=$(echo "$sb" | sed -n 's/^Block count: *//p'); bsize=$(echo "$sb" | sed -n 's/^Block size: *//p')
    say "grow-fs $((count * bsize))"
else
    say "grow-fs $(stat -f -c '%b %S' /sysroot 2>/dev/null | { read -r blocks size; echo $((blocks * size)); })"
fi
for unit in systemd-repart.service $(systemctl list-units --all --plain --no-legend '*growfs*' 2>/dev/null | cut -d' ' -f1); do
    say "grow-unit $unit $(systemctl show -p ActiveState --value "$unit") $(systemctl show -p Result --value "$unit")"
    journalctl -b -u "$unit" -o cat --no-pager 2>/dev/null | tail -n 12 | while IFS= read -r line; do say "grow-log $unit $line"; done
done
)SH";

} // namespace

const char* phase_name(Phase phase) {
    switch (phase) {
    case Phase::boot: return "boot";
    case Phase::upgrade: return "upgrade";
    case Phase::upgraded: return "upgraded";
    case Phase::rollback: return "rollback";
    case Phase::first_boot: return "first-boot";
    case Phase::second_boot: return "second-boot";
    }
    return "boot";
}

Expectations expectations_from_manifest(const image::Manifest& manifest) {
    Expectations expect;
    expect.commit = manifest.commit;
    expect.kernel = manifest.kernel;
    expect.osname = manifest.name;
    expect.ref = manifest.ref;
    if (manifest.remote) {
        expect.remote = manifest.remote->name;
        expect.remote_url = manifest.remote->url;
    }
    if (const auto& checks = manifest.checks) {
        for (const auto& [key, value] : checks->sysctl)
            expect.sysctl[key] = value.is_string() ? value.get<std::string>() : value.dump();
        expect.modules = checks->modules_load;
        expect.enabled_units = checks->units_enable;
        expect.masked_units = checks->units_mask;
        expect.containerd = checks->containerd;
    }
    return expect;
}

Expectations expectations_from_manifest(const json& manifest) {
    return expectations_from_manifest(manifest.get<image::Manifest>());
}

std::string guest_program(const Expectations& expect) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : expect.sysctl) keys.push_back(key);
    std::string text(program_head);
    text += fmt::format("for key in {}; do\n", words(keys));
    text += R"SH(    if value=$(cat "/proc/sys/$(echo "$key" | tr . /)" 2>/dev/null); then say "sysctl $key $value"
    else say "sysctl-missing $key"; fi
done
builtin=/lib/modules/$(uname -r)/modules.builtin
)SH";
    text += fmt::format("for module in {}; do\n", words(expect.modules));
    text += R"SH(    name=$(echo "$module" | tr - _)
    if [ -d "/sys/module/$name" ]; then say "module $module loaded"
    elif grep -Eq "/($module|$name)\.ko\$" "$builtin" 2>/dev/null; then say "module $module builtin"
    else say "module $module missing"; fi
done
)SH";
    text += fmt::format("for unit in {}; do say \"unit $unit $(systemctl is-active \"$unit\")\"; done\n",
                        words(expect.enabled_units));
    text += fmt::format("for unit in {}; do say \"masked $unit $(systemctl is-enabled \"$unit\" 2>/dev/null)\"; done\n",
                        words(expect.masked_units));
    text += cloud_init_section;
    if (const auto& data = expect.user_data) {
        text += user_data_section;
        for (std::size_t i = 0; i < data->files.size(); ++i)
            text += fmt::format("check_file {} {} {}\n", i, single_quoted(data->files[i].path),
                                std::max<std::size_t>(1, data->files[i].content.size()));
    }
    if (expect.containerd) text += containerd_section;
    if (expect.grown_disk > 0) text += growth_section;
    text += fmt::format("osname={} target={} remote={} remote_url={} ref={} marker={}\n", single_quoted(expect.osname),
                        single_quoted(expect.target_commit), single_quoted(expect.remote),
                        single_quoted(expect.remote_url), single_quoted(expect.ref), single_quoted(expect.marker));
    text += program_tail;
    return text;
}

std::string kernel_arguments(Phase phase, const std::string& program_device) {
    return fmt::format(" systemd.unit=multi-user.target systemd.wants=kernel-command-line.service"
                       " systemd.run=\"/bin/sh {} {}\" systemd.run_success_action=none"
                       " systemd.run_failure_action=none",
                       program_device, phase_name(phase));
}

std::optional<std::string> GuestReport::first(const std::string& key) const {
    for (const auto& [k, v] : lines)
        if (k == key) return v;
    return std::nullopt;
}

std::vector<std::string> GuestReport::all(const std::string& key) const {
    std::vector<std::string> result;
    for (const auto& [k, v] : lines)
        if (k == key) result.push_back(v);
    return result;
}

GuestReport parse_report(const std::string& channel_text, Phase phase) {
    GuestReport report;
    std::string begin = fmt::format("begin {}", phase_name(phase)), end = fmt::format("end {}", phase_name(phase));
    std::istringstream in(channel_text);
    for (std::string line; std::getline(in, line);) {
        line.erase(std::remove_if(line.begin(), line.end(),
                                  [](char c) { return c == '\r' || c == '\0' || (c > 0 && c < 32 && c != '\t'); }),
                   line.end());
        if (line.empty()) continue;
        if (line == begin) {
            report = GuestReport{};
            report.begun = true;
            continue;
        }
        if (!report.begun || report.ended) continue;
        if (line == end) {
            report.ended = true;
            continue;
        }
        auto space = line.find(' ');
        if (space == std::string::npos)
            report.lines.emplace_back(line, "");
        else
            report.lines.emplace_back(line.substr(0, space), line.substr(space + 1));
    }
    return report;
}

std::optional<double> parse_timespan(const std::string& text) {
    static const std::regex part(R"(([0-9]+(?:\.[0-9]+)?)(us|ms|s|min|h))");
    double total = 0;
    bool any = false;
    for (std::sregex_iterator it(text.begin(), text.end(), part), end; it != end; ++it) {
        double value = std::stod((*it)[1]);
        std::string unit = (*it)[2];
        total += unit == "us"    ? value / 1e6
                 : unit == "ms"  ? value / 1e3
                 : unit == "min" ? value * 60
                 : unit == "h"   ? value * 3600
                                 : value;
        any = true;
    }
    if (!any) return std::nullopt;
    return total;
}

BootTimes parse_startup_line(const std::string& line) {
    BootTimes times;
    auto in = line.find("Startup finished in ");
    if (in == std::string::npos) return times;
    std::string rest = line.substr(in + 20);
    static const std::regex part(R"(([0-9][0-9a-z. ]*?) \((firmware|loader|kernel|initrd|userspace)\))");
    for (std::sregex_iterator it(rest.begin(), rest.end(), part), end; it != end; ++it) {
        auto value = parse_timespan((*it)[1]);
        std::string what = (*it)[2];
        if (what == "firmware") times.firmware = value;
        if (what == "loader") times.loader = value;
        if (what == "kernel") times.kernel = value;
        if (what == "initrd") times.initrd = value;
        if (what == "userspace") times.userspace = value;
    }
    if (auto equals = rest.rfind(" = "); equals != std::string::npos)
        times.total = parse_timespan(rest.substr(equals + 3));
    return times;
}

std::vector<StatusDeployment> parse_status(const std::vector<std::string>& lines) {
    static const std::regex deployment(R"(^\s*(\*)?\s*(\S+)\s+([0-9a-f]{64})\.[0-9]+(.*)$)");
    std::vector<StatusDeployment> result;
    for (const auto& line : lines) {
        std::smatch match;
        if (!std::regex_match(line, match, deployment)) continue;
        StatusDeployment item;
        item.booted = match[1].matched;
        item.osname = match[2];
        item.checksum = match[3];
        std::string rest = match[4];
        item.pending = rest.find("pending") != std::string::npos;
        item.rollback = rest.find("rollback") != std::string::npos;
        result.push_back(std::move(item));
    }
    return result;
}

namespace {

using AddCheck = std::function<void(std::string, bool, std::string)>;

// "KEY rest" lines of a report split at their first space: {first word, rest}.
std::vector<std::pair<std::string, std::string>> split_all(const GuestReport& report, const std::string& key) {
    std::vector<std::pair<std::string, std::string>> result;
    for (const auto& line : report.all(key)) {
        auto space = line.find(' ');
        result.emplace_back(line.substr(0, space), space == std::string::npos ? "" : line.substr(space + 1));
    }
    return result;
}

std::vector<std::string> fields(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> result;
    for (std::string word; in >> word;) result.push_back(word);
    return result;
}

std::optional<std::uint64_t> number(const std::string& text) {
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    try {
        return std::stoull(text);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::string indented(const std::vector<std::string>& lines, std::size_t limit = 30) {
    std::string text;
    std::size_t from = lines.size() > limit ? lines.size() - limit : 0;
    for (std::size_t i = from; i < lines.size(); ++i) text += "\n      " + lines[i];
    return text;
}

std::string mib(std::uint64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20)); }

// cloud-init's own errors (result.json's v1.errors), and its log's warning lines.
std::string cloud_init_trouble(const GuestReport& report) {
    std::string text;
    auto result = json::parse(report.first("cloud-init-result").value_or(""), nullptr, false);
    if (result.is_object() && result.contains("v1") && result["v1"].is_object()) {
        const auto& v1 = result["v1"];
        if (v1.contains("errors") && v1["errors"].is_array())
            for (const auto& error : v1["errors"])
                text += "\n      error: " + (error.is_string() ? error.get<std::string>() : error.dump());
    }
    text += indented(report.all("cloud-init-long"), 12);
    text += indented(report.all("cloud-init-log"), 40);
    return text;
}

bool cloud_init_errors(const GuestReport& report) {
    auto result = json::parse(report.first("cloud-init-result").value_or(""), nullptr, false);
    if (!result.is_object() || !result.contains("v1") || !result["v1"].is_object()) return false;
    const auto& errors = result["v1"].value("errors", json::array());
    return errors.is_array() && !errors.empty();
}

void evaluate_cloud_init(const GuestReport& report, const Expectations& expect, const AddCheck& add) {
    auto status = report.first("cloud-init-status").value_or("not reported");
    std::string blame = indented(report.all("cloud-init-blame"), 6);
    if (!expect.user_data) {
        // No seed: cloud-init found no datasource and stood aside (or finished), the boot not held up.
        if (status == "absent") return;
        add("cloud-init without a seed: not running, not failed",
            status == "disabled" || status == "done" || status == "not run",
            fmt::format("cloud-init status '{}'{}{}", status, blame,
                        status == "disabled" ? "" : cloud_init_trouble(report)));
        return;
    }
    const UserData& data = *expect.user_data;
    bool errors = cloud_init_errors(report);
    add("cloud-init finished the user data without errors", status == "done" && !errors,
        fmt::format("cloud-init status '{}'{}{}", status, blame, cloud_init_trouble(report)));
    auto received = report.first("user-data").value_or("");
    add("cloud-init read the user data from the NoCloud seed", received == data.sha256,
        received.empty() ? std::string("no /var/lib/cloud/instance/user-data.txt")
                         : fmt::format("its user-data.txt has sha256 {}, the file given {}", received, data.sha256));
    if (data.hostname) {
        auto hostname = report.first("hostname").value_or("");
        // cloud-init sets the short name of a dotted hostname unless the user data asks for the FQDN.
        auto shortname = data.hostname->substr(0, data.hostname->find('.'));
        add("hostname " + *data.hostname, hostname == *data.hostname || hostname == shortname,
            "the hostname is '" + hostname + "'");
    }
    std::map<std::string, std::string> files, heads;
    for (const auto& [index, rest] : split_all(report, "file")) files[index] = rest;
    for (const auto& [index, rest] : split_all(report, "file-head")) heads[index] = rest;
    for (std::size_t i = 0; i < data.files.size(); ++i) {
        const WrittenFile& file = data.files[i];
        auto key = std::to_string(i);
        std::string name = "user data wrote " + file.path;
        if (!files.count(key) || files[key] == "missing") {
            add(name, false, files.count(key) ? "it does not exist" : "not reported");
            continue;
        }
        auto seen = fields(files[key]); // sha256, tail sha256, mode, owner, size
        if (seen.size() < 5) {
            add(name, false, "reported as '" + files[key] + "'");
            continue;
        }
        std::vector<std::string> wrong;
        if (file.content_known) {
            auto want = sha256_hex(file.content);
            bool same = file.append ? seen[1] == want || file.content.empty() : seen[0] == want;
            if (!same)
                wrong.push_back(fmt::format("its content differs ({} bytes, first line '{}'; written: {} bytes{})",
                                            seen[4], heads[key], file.content.size(), file.append ? ", appended" : ""));
        }
        if (file.permissions && seen[2] != *file.permissions)
            wrong.push_back(fmt::format("mode {} (written: {})", seen[2], *file.permissions));
        if (file.owner) {
            auto owner = *file.owner;
            if (owner.find(':') == std::string::npos) owner += ":" + owner;
            if (seen[3] != owner) wrong.push_back(fmt::format("owner {} (written: {})", seen[3], *file.owner));
        }
        add(name, wrong.empty(),
            wrong.empty() ? fmt::format("{} bytes, mode {}, {}", seen[4], seen[2], seen[3])
                          : fmt::format("{}", fmt::join(wrong, "; ")));
    }
    if (data.commands) {
        // cloud-init writes runcmd as the script "runcmd" and a #! user data as "part-001"; scripts-user
        // runs them; their output goes to cloud-init-output.log.
        auto scripts = report.all("script");
        std::string script = data.script ? "part-001" : "runcmd";
        bool written = std::find(scripts.begin(), scripts.end(), script) != scripts.end();
        std::vector<std::string> output;
        for (const auto& line : report.all("output-log"))
            if (!line.starts_with("Cloud-init v. ") && line.find("ci-info:") == std::string::npos)
                output.push_back(line);
        bool failed = false;
        auto result = json::parse(report.first("cloud-init-result").value_or(""), nullptr, false);
        if (result.is_object()) {
            auto text = result.dump();
            failed = text.find("scripts_user") != std::string::npos || text.find("scripts-user") != std::string::npos;
        }
        // Another module's error is the "finished without errors" check's: this one is about the commands.
        add(data.script ? "user data script ran" : "user data runcmd ran",
            written && !failed && (status == "done" || status == "error"),
            fmt::format("{}; its output (/var/log/cloud-init-output.log):{}",
                        !written ? fmt::format("cloud-init wrote no script '{}'", script)
                        : failed ? std::string("cloud-init's scripts-user module failed")
                                 : fmt::format("scripts-user ran {}", script),
                        indented(output, 40)));
    }
}

void evaluate_containerd(const GuestReport& report, const AddCheck& add) {
    auto version = report.first("containerd-version").value_or("");
    auto plugin = report.first("ctr-plugin").value_or("");
    auto plugin_fields = fields(plugin);
    add("containerd's CRI plugin is loaded", !plugin_fields.empty() && plugin_fields.back() == "ok",
        fmt::format("{}; ctr plugins ls: {}", version.empty() ? "no containerd" : version,
                    plugin.empty() ? "no io.containerd.grpc.v1 cri line" : plugin));
    std::map<std::string, std::vector<std::string>> config;
    for (const auto& line : report.all("containerd-config")) {
        auto equals = line.find('=');
        if (equals == std::string::npos) continue;
        std::string key(trim(line.substr(0, equals))), value(trim(line.substr(equals + 1)));
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
        config[key].push_back(value);
    }
    auto all_are = [&](const std::string& key, const std::string& want) {
        const auto& values = config[key];
        return !values.empty() && std::all_of(values.begin(), values.end(), [&](const auto& v) { return v == want; });
    };
    auto seen = [&](const std::string& key) {
        return config[key].empty() ? std::string("not set") : fmt::format("{}", fmt::join(config[key], ", "));
    };
    add("containerd runs runc with the systemd cgroup driver",
        all_are("SystemdCgroup", "true") && all_are("default_runtime_name", "runc"),
        fmt::format("containerd config dump: default_runtime_name {}, SystemdCgroup {}", seen("default_runtime_name"),
                    seen("SystemdCgroup")));
    add("containerd's snapshotter is overlayfs", all_are("snapshotter", "overlayfs"),
        "containerd config dump: snapshotter " + seen("snapshotter"));
    auto sandbox = config["sandbox_image"];
    add("containerd's sandbox image is set", !sandbox.empty() && !sandbox.front().empty(),
        "sandbox_image " + seen("sandbox_image"));
    auto rc = report.first("ctr-run").value_or("not reported");
    auto output = report.all("ctr-output");
    add("a container runs under containerd (ctr run)", rc == "0",
        fmt::format("ctr run exit status {}{}", rc, indented(output, 12)));
    // cgroup v2: "0::/system.slice/imgbuild-test-ID.scope" (no cgroup namespace in ctr's spec).
    std::string cgroup;
    for (const auto& line : output)
        if (line.starts_with("0::/")) cgroup = line.substr(3);
    bool in_slice = false;
    for (std::size_t at = cgroup.find(".slice/"); at != std::string::npos; at = cgroup.find(".slice/", at + 1))
        in_slice = true;
    add("the container's cgroup is under a systemd slice", in_slice && cgroup.ends_with(".scope"),
        cgroup.empty() ? "its /proc/self/cgroup has no cgroup v2 line" : "its cgroup is " + cgroup);
}

void evaluate_growth(const GuestReport& report, const Expectations& expect, Phase phase, const AddCheck& add) {
    auto disk = fields(report.first("grow-disk").value_or(""));           // name, sectors
    auto partition = fields(report.first("grow-partition").value_or("")); // name, start, sectors
    auto filesystem = number(report.first("grow-fs").value_or(""));
    std::vector<std::string> journal = report.all("grow-log");
    for (const auto& unit : report.all("grow-unit")) journal.insert(journal.begin(), "unit " + unit);
    std::string log = indented(journal, 40);
    auto disk_sectors = disk.size() == 2 ? number(disk[1]) : std::nullopt;
    auto start = partition.size() == 3 ? number(partition[1]) : std::nullopt;
    auto sectors = partition.size() == 3 ? number(partition[2]) : std::nullopt;
    if (!disk_sectors || !start || !sectors || !filesystem) {
        add("the root fills the grown disk", false,
            fmt::format("sizes not reported (disk '{}', partition '{}', filesystem '{}'){}",
                        report.first("grow-disk").value_or(""), report.first("grow-partition").value_or(""),
                        report.first("grow-fs").value_or(""), log));
        return;
    }
    std::uint64_t disk_bytes = *disk_sectors * 512, end = (*start + *sectors) * 512, part_bytes = *sectors * 512;
    add(fmt::format("the disk is {} ({}x the image's)", mib(expect.grown_disk),
                    expect.image_disk ? expect.grown_disk / expect.image_disk : 0),
        disk_bytes == expect.grown_disk, fmt::format("the guest's {} is {}", disk[0], mib(disk_bytes)));
    // Left at the end: the GPT's backup (33 sectors) and the partition's alignment (1 MiB at most).
    constexpr std::uint64_t slack = (2u << 20);
    add(fmt::format("the root partition fills the disk"), end + slack >= disk_bytes && end <= disk_bytes,
        fmt::format("{} ends at {} of {} ({} left){}", partition[0], mib(end), mib(disk_bytes),
                    mib(disk_bytes > end ? disk_bytes - end : 0), log));
    // ext4 ends on a whole block, and resize2fs may leave off a last block group too small to hold
    // its own metadata.
    std::uint64_t fs_slack = std::max<std::uint64_t>(16u << 20, part_bytes / 200);
    add("the root filesystem fills its partition", *filesystem + fs_slack >= part_bytes && *filesystem <= part_bytes,
        fmt::format("ext4 of {} on a partition of {}{}", mib(*filesystem), mib(part_bytes), log));
    if (phase == Phase::second_boot) {
        bool same = expect.previous_partition == part_bytes && expect.previous_filesystem == *filesystem;
        add("a second boot changes nothing more", same,
            fmt::format("partition {} → {}, filesystem {} → {}{}",
                        expect.previous_partition ? mib(*expect.previous_partition) : "?", mib(part_bytes),
                        expect.previous_filesystem ? mib(*expect.previous_filesystem) : "?", mib(*filesystem), log));
    }
}

} // namespace

std::optional<std::uint64_t> reported_partition_size(const GuestReport& report) {
    auto partition = fields(report.first("grow-partition").value_or(""));
    if (partition.size() != 3) return std::nullopt;
    auto sectors = number(partition[2]);
    if (!sectors) return std::nullopt;
    return *sectors * 512;
}

std::optional<std::uint64_t> reported_filesystem_size(const GuestReport& report) {
    return number(report.first("grow-fs").value_or(""));
}

std::vector<std::string> console_failures(const std::string& console_text) {
    static const std::regex escape("\x1b\\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>78]");
    // "[FAILED] Failed to start …", "Failed to set up automount …", "systemd[1]: Failed to …",
    // "[    3.1] systemd-gpt-auto-generator[99]: Failed to …" (kernel timestamps and colour removed).
    static const std::regex failed(R"(\[\s*FAILED\s*\])");
    static const std::regex failed_to(
        R"(^\s*(\[\s*[0-9]+\.[0-9]+\]\s*)?([A-Za-z0-9_.@-]*systemd[A-Za-z0-9_.@-]*(\[[0-9]+\])?:\s*)?Failed to )");
    // systemd shortens a long status line with "…", cutting through a colour code: drop what is left of it.
    static const std::regex cut_escape("\x1b\\[[0-9;?]*");
    std::string plain = std::regex_replace(std::regex_replace(console_text, escape, ""), cut_escape, "");
    std::vector<std::string> result;
    std::string line;
    auto flush = [&] {
        auto text = std::string(trim(line));
        text.erase(std::remove_if(text.begin(), text.end(),
                                  [](char c) { return c == '\0' || (c > 0 && c < 32 && c != '\t'); }),
                   text.end());
        if (!text.empty() && (std::regex_search(text, failed) || std::regex_search(text, failed_to)))
            result.push_back(text);
        line.clear();
    };
    for (char c : plain) {
        if (c == '\n' || c == '\r')
            flush();
        else
            line += c;
    }
    flush();
    return result;
}

Check console_check(const std::vector<std::string>& failures) {
    std::string detail;
    for (std::size_t i = 0; i < failures.size() && i < 20; ++i) detail += "\n      " + failures[i];
    if (failures.size() > 20) detail += fmt::format("\n      (and {} more)", failures.size() - 20);
    return Check{"the console shows no failure", failures.empty(),
                 failures.empty() ? std::string("no [FAILED] or 'Failed to' line")
                                  : fmt::format("{} failure line{} on the serial console:{}", failures.size(),
                                                failures.size() == 1 ? "" : "s", detail)};
}

std::vector<Check> evaluate(const GuestReport& report, const Expectations& expect, Phase phase) {
    std::vector<Check> checks;
    auto add = [&](std::string name, bool passed, std::string detail) {
        checks.push_back(Check{std::move(name), passed, std::move(detail)});
    };
    if (!report.begun) {
        add("the check program ran", false, "it reported nothing on the second serial port");
        return checks;
    }
    if (!report.ended) add("the check program finished", false, "its report stops before \"end\"");

    // multi-user with no failed units
    auto state = report.first("state").value_or("");
    auto failed = report.all("failed");
    std::string failures;
    for (const auto& unit : failed) {
        failures += (failures.empty() ? "" : ", ") + unit;
        std::string journal;
        for (const auto& line : report.all("journal"))
            if (line.starts_with(unit + " ")) journal += "\n      " + line.substr(unit.size() + 1);
        failures += journal;
    }
    add("reached multi-user, no failed units", state == "running" && failed.empty(),
        failed.empty() ? fmt::format("system state '{}'", state)
                       : fmt::format("system state '{}'; failed: {}", state, failures));

    // the booted deployment
    auto deployments = parse_status(report.all("status"));
    auto booted = std::find_if(deployments.begin(), deployments.end(), [](const auto& d) { return d.booted; });
    std::string booted_commit = booted == deployments.end() ? std::string() : booted->checksum;
    add("booted the expected commit", !expect.commit.empty() && booted_commit == expect.commit,
        fmt::format("booted {}, expected {}", booted_commit.empty() ? "no ostree deployment" : booted_commit,
                    expect.commit));

    if (!expect.kernel.empty()) {
        auto kernel = report.first("kernel").value_or("");
        add("kernel " + expect.kernel, kernel == expect.kernel, "running " + kernel);
    }

    std::map<std::string, std::string> writable;
    for (const auto& line : report.all("writable"))
        if (auto space = line.find(' '); space != std::string::npos)
            writable[line.substr(0, space)] = line.substr(space + 1);
    add("/usr is read-only", writable["/usr"] == "no", writable["/usr"] == "yes" ? "/usr is writable" : "not reported");
    for (const char* dir : {"/etc", "/var"})
        add(fmt::format("{} is writable", dir), writable[dir] == "yes",
            writable[dir] == "no" ? fmt::format("{} is read-only", dir) : "not reported");

    std::map<std::string, std::string> sysctl;
    for (const auto& line : report.all("sysctl"))
        if (auto space = line.find(' '); space != std::string::npos)
            sysctl[line.substr(0, space)] = line.substr(space + 1);
    for (const auto& [key, value] : expect.sysctl) {
        auto it = sysctl.find(key);
        if (it == sysctl.end())
            add(fmt::format("sysctl {} = {}", key, value), false, "the kernel has no such sysctl");
        else
            add(fmt::format("sysctl {} = {}", key, value), collapse(it->second) == collapse(value),
                fmt::format("it is {}", collapse(it->second)));
    }

    std::map<std::string, std::string> modules;
    for (const auto& line : report.all("module"))
        if (auto space = line.find(' '); space != std::string::npos)
            modules[line.substr(0, space)] = line.substr(space + 1);
    for (const auto& module : expect.modules) {
        auto status = modules.count(module) ? modules[module] : "not reported";
        add("module " + module, status == "loaded" || status == "builtin", status);
    }

    std::map<std::string, std::string> units, masked;
    for (const auto& line : report.all("unit"))
        if (auto space = line.find(' '); space != std::string::npos)
            units[line.substr(0, space)] = line.substr(space + 1);
    for (const auto& line : report.all("masked"))
        if (auto space = line.find(' '); space != std::string::npos)
            masked[line.substr(0, space)] = line.substr(space + 1);
        else
            masked[line] = "";
    for (const auto& unit : expect.enabled_units) {
        auto status = units.count(unit) ? units[unit] : "not reported";
        add(unit + " is active", status == "active", status);
    }
    for (const auto& unit : expect.masked_units) {
        auto status = masked.count(unit) ? masked[unit] : "not reported";
        add(unit + " is masked", status == "masked" || status == "masked-runtime",
            status.empty() ? "not masked" : status);
    }

    auto analyze = report.first("analyze").value_or("");
    auto times = parse_startup_line(analyze);
    add("boot time reported (systemd-analyze)", times.total.has_value(),
        analyze.empty() ? "nothing reported" : analyze);

    evaluate_cloud_init(report, expect, add);
    if (expect.containerd) evaluate_containerd(report, add);
    if (expect.grown_disk > 0) evaluate_growth(report, expect, phase, add);

    auto after = parse_status(report.all("status-after"));
    std::string after_default = after.empty() ? std::string() : after.front().checksum;
    switch (phase) {
    case Phase::boot:
    case Phase::first_boot:
    case Phase::second_boot: break;
    case Phase::upgrade: {
        std::string log;
        for (const auto& line : report.all("upgrade-log")) log += "\n      " + line;
        add("ostree upgrade", report.first("upgrade").value_or("") == "0",
            fmt::format("exit status {}{}", report.first("upgrade").value_or("not reported"), log));
        add("the new commit is the next boot's default", after_default == expect.target_commit,
            fmt::format("default deployment {}, expected {}", after_default.empty() ? "none" : after_default,
                        expect.target_commit));
        break;
    }
    case Phase::upgraded: {
        auto marker = report.first("marker").value_or("");
        add("/etc changes kept across the upgrade", !expect.marker.empty() && marker == expect.marker,
            fmt::format("/etc/imgbuild-test-marker holds '{}', expected '{}'", marker, expect.marker));
        bool old_kept = std::any_of(deployments.begin(), deployments.end(),
                                    [&](const auto& d) { return !d.booted && d.checksum == expect.previous_commit; });
        add("the previous deployment is kept for rollback", old_kept,
            fmt::format("{} deployments besides the booted one",
                        deployments.size() - (booted == deployments.end() ? 0 : 1)));
        break;
    }
    case Phase::rollback: {
        std::string log;
        for (const auto& line : report.all("rollback-log")) log += "\n      " + line;
        add("rollback made the old commit the default",
            report.first("rollback").value_or("") == "0" && after_default == expect.commit && after.size() == 1,
            fmt::format("exit status {}, default deployment {}{}", report.first("rollback").value_or("not reported"),
                        after_default.empty() ? "none" : after_default, log));
        break;
    }
    }
    return checks;
}

} // namespace imgbuild::verify

// The guest side of `imgbuild test` as pure text: the shell program each boot runs (built from what the
// manifest says the image must be), and the parsing of its "KEY VALUE" report, of systemd-analyze and
// of ostree's status into checks. No I/O here, so every check is unit-tested without booting.

#include "guest.hpp"

#include <algorithm>
#include <regex>
#include <sstream>

#include <fmt/format.h>

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
upgraded)
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

} // namespace

const char* phase_name(Phase phase) {
    switch (phase) {
    case Phase::boot: return "boot";
    case Phase::upgrade: return "upgrade";
    case Phase::upgraded: return "upgraded";
    case Phase::rollback: return "rollback";
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

    auto after = parse_status(report.all("status-after"));
    std::string after_default = after.empty() ? std::string() : after.front().checksum;
    switch (phase) {
    case Phase::boot: break;
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

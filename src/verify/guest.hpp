#pragma once
// The guest's side of `imgbuild test`: the check program handed to the booted image on a disk of its
// own, and the host's reading of what it reports. Pure functions, so the checks are unit-tested.
//
// The program is not in the image users ship. At each boot the harness appends to the kernel command
// line (through GRUB's editor, on the serial console):
//   systemd.unit=multi-user.target systemd.wants=kernel-command-line.service
//   systemd.run="/bin/sh /dev/vdb PHASE" systemd.run_{success,failure}_action=none
// so systemd's own run generator starts it; it reports on the second serial port (/dev/ttyS1), where no
// getty and no kernel console write, one "KEY VALUE" line at a time between "begin PHASE" and
// "end PHASE".

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "imgbuild/image/manifest.hpp"
#include "userdata.hpp"

namespace imgbuild::verify {

// What a boot does after its checks.
enum class Phase {
    boot,        // check, power off
    upgrade,     // check, mark /etc, upgrade to the target commit, reboot
    upgraded,    // check the target is booted and /etc kept, reboot (the harness picks the old entry next)
    rollback,    // booted from the previous menu entry: check the old commit, make it the default, power off
    first_boot,  // on a grown copy of the disk: check (the root grew), reboot
    second_boot, // the same copy again: check that nothing more changed, power off
};
const char* phase_name(Phase phase);

// What the recipe promised (manifest.json "checks"), and the commits involved.
struct Expectations {
    std::string commit; // the commit this boot should run
    std::string kernel; // uname -r
    std::string osname; // the deployment's stateroot
    std::map<std::string, std::string> sysctl;
    std::vector<std::string> modules;
    std::vector<std::string> enabled_units;
    std::vector<std::string> masked_units;
    // upgrade: the commit to move to and how the node reaches the update repository.
    std::string target_commit;
    std::string previous_commit; // upgraded: the commit booted before, kept as the rollback deployment
    std::string remote;          // the origin's remote name
    std::string remote_url;      // file:///path is mounted there from the update disk; else pull-local
    std::string ref;
    std::string marker; // written into /etc before the upgrade, expected after it
    // The recipe installs containerd: its CRI plugin, runc with the systemd cgroup driver, overlayfs, and
    // a container run from the root filesystem on the harness's extra disk.
    bool containerd = false;
    // Booted with a NoCloud seed of this user data: cloud-init must have applied it.
    std::optional<UserData> user_data;
    // Root growth: the disk was grown to this many bytes (0: no growth check) from the image's size.
    std::uint64_t grown_disk = 0;
    std::uint64_t image_disk = 0;
    // second_boot: the root partition's and filesystem's sizes the first boot on the grown disk saw.
    std::optional<std::uint64_t> previous_partition, previous_filesystem;
};

// What manifest.json promises of the booted image: its commit, kernel, name, ref, remote, and "checks"
// (absent in manifests older than `imgbuild test`: no recipe checks).
Expectations expectations_from_manifest(const image::Manifest& manifest);
Expectations expectations_from_manifest(const nlohmann::json& manifest);

// The check program (a POSIX shell script, padded by the caller to whole sectors).
std::string guest_program(const Expectations& expect);

// The text appended to the kernel command line for one boot.
std::string kernel_arguments(Phase phase, const std::string& program_device = "/dev/vdb");

// One boot's report as the guest wrote it: "KEY VALUE" lines in order.
struct GuestReport {
    bool begun = false;
    bool ended = false;
    std::vector<std::pair<std::string, std::string>> lines;

    std::optional<std::string> first(const std::string& key) const;
    std::vector<std::string> all(const std::string& key) const;
};
// The lines between "begin PHASE" and "end PHASE" in the channel's text (CR and stray bytes dropped).
GuestReport parse_report(const std::string& channel_text, Phase phase);

struct Check {
    std::string name;
    bool passed = false;
    std::string detail; // what was seen, when it failed (or the figure, when it passed)
};

// systemd-analyze's "Startup finished in 3.3s (kernel) + 7.3s (initrd) + 12s (userspace) = 22.6s".
struct BootTimes {
    std::optional<double> firmware, loader, kernel, initrd, userspace, total;
};
BootTimes parse_startup_line(const std::string& line);
// systemd's time spans: "2min 4.392s", "850ms", "1h 2min".
std::optional<double> parse_timespan(const std::string& text);

// A deployment line of `ostree admin status`: "* debian11-node <checksum>.0 (pending)".
struct StatusDeployment {
    bool booted = false;
    std::string osname;
    std::string checksum;
    bool pending = false;
    bool rollback = false;
};
std::vector<StatusDeployment> parse_status(const std::vector<std::string>& lines);

// Every check of one boot against what the recipe promised.
std::vector<Check> evaluate(const GuestReport& report, const Expectations& expect, Phase phase);

// The root's sizes a report gives (grow-partition's size, grow-fs), for the second boot's comparison.
std::optional<std::uint64_t> reported_partition_size(const GuestReport& report);
std::optional<std::uint64_t> reported_filesystem_size(const GuestReport& report);

// The lines of a boot's serial console that read as failures: systemd's "[FAILED]" status lines and its
// "Failed to …" messages (bare, or as "systemd[1]: Failed to …"), colour codes removed.
std::vector<std::string> console_failures(const std::string& console_text);
// The check of a console's failure lines.
Check console_check(const std::vector<std::string>& failures);

} // namespace imgbuild::verify

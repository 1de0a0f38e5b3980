// imgbuild test: the image booted under QEMU and checked from inside, with upgrade and rollback.
//
// Each firmware gets one QEMU process on a qcow2 overlay of the image (the image is never written).
// For every boot the harness waits for GRUB's menu on the serial console, opens the default entry (or,
// to roll back, the previous one) in GRUB's editor and appends the kernel arguments that make systemd
// run the check program from its own disk (guest.hpp). Reboots stay in the same QEMU process, so an
// upgrade's deployment and /etc survive into the next boot.

#include "imgbuild/verify/verify.hpp"

#include <unistd.h>

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "accel.hpp"
#include "container.hpp"
#include "guest.hpp"
#include "imgbuild/commit/commit.hpp"
#include "imgbuild/commit/metadata.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/process.hpp"
#include "imgbuild/image/manifest.hpp"
#include "imgbuild/image/settings.hpp"
#include "machine.hpp"

namespace imgbuild::verify {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// GRUB's menu and editor, as they print on a serial terminal.
const std::vector<std::string> grub_menu = {"automatically in", "Press enter to boot the selected OS"};
const std::vector<std::string> grub_editor = {"Emacs-like screen editing"};
constexpr char ctrl_n = 0x0e, ctrl_p = 0x10, ctrl_e = 0x05, ctrl_x = 0x18;

struct Target {
    fs::path image;
    std::string format; // qcow2, raw
    fs::path build_dir;
    image::Manifest manifest;
    fs::path repo; // may be empty
};

Target locate(const TestOptions& options) {
    Target target;
    fs::path path = options.target;
    std::error_code ec;
    if (!fs::exists(path, ec))
        throw UsageError("'{}' does not exist (give an image, a build directory or an output bundle)", path.string());
    if (fs::is_directory(path)) {
        if (fs::exists(path / "builds/latest")) path = fs::canonical(path / "builds/latest");
        if (!fs::exists(path / "manifest.json"))
            throw UsageError(
                "'{}' is neither a build directory (with manifest.json) nor an output bundle (with builds/latest)",
                options.target.string());
        target.build_dir = path;
    } else {
        target.build_dir = fs::absolute(path).parent_path();
        target.image = fs::absolute(path);
        if (!fs::exists(target.build_dir / "manifest.json"))
            throw UsageError("'{}' has no manifest.json beside it: imgbuild test checks images of an imgbuild build "
                             "(the checks come from the manifest)",
                             path.string());
    }
    json manifest = json::parse(read_file(target.build_dir / "manifest.json"), nullptr, false);
    if (!manifest.is_object() || !manifest.contains("commit"))
        throw UsageError("'{}' is not an imgbuild manifest", (target.build_dir / "manifest.json").string());
    target.manifest = manifest.get<image::Manifest>();
    const auto artifacts = target.manifest.artifacts.value_or(std::map<std::string, image::ManifestArtifact>{});
    if (target.image.empty()) {
        for (const char* format : {"qcow2", "raw"})
            if (auto it = artifacts.find(format); it != artifacts.end()) {
                target.image = target.build_dir / it->second.file;
                break;
            }
        if (target.image.empty())
            throw UsageError("'{}' lists no disk image", (target.build_dir / "manifest.json").string());
    }
    target.format = "raw";
    for (const auto& [format, artifact] : artifacts)
        if (artifact.file == target.image.filename().string()) target.format = format;
    if (target.image.extension() == ".qcow2") target.format = "qcow2";
    if (!fs::exists(target.image)) throw UsageError("the image '{}' does not exist", target.image.string());
    target.image = fs::absolute(target.image);
    target.repo = options.repo;
    if (target.repo.empty()) {
        // builds/<version>/ (or its .partial while `build --test` runs) sits beside repo/.
        fs::path bundle_repo = target.build_dir.parent_path().parent_path() / "repo";
        if (fs::exists(bundle_repo / "config")) target.repo = bundle_repo;
    }
    return target;
}

// The commit's promises, as the manifest carries them for an image: from the commit's own metadata.
image::Manifest manifest_of_commit(const fs::path& repo, const std::string& ref) {
    auto info = commit::read_commit(repo, ref);
    auto settings = image::settings_of(info);
    image::Manifest manifest;
    manifest.commit = info.checksum;
    manifest.version = info.version;
    auto metadata = [&](std::string_view key, const std::string& fallback) {
        auto it = info.metadata.find(std::string(key));
        return it == info.metadata.end() ? fallback : it->second;
    };
    manifest.kernel = metadata("ostree.linux", "");
    manifest.name = settings.name;
    manifest.ref = metadata(commit::key::ref, ref);
    manifest.checks = settings.checks.value_or(image::CheckSettings{});
    manifest.remote = settings.remote;
    return manifest;
}

// The commit --upgrade-to names: a build version of the bundle, a ref or a checksum in the repository.
std::string resolve_upgrade(const Target& target, const std::string& name) {
    fs::path build = target.build_dir.parent_path() / name / "manifest.json";
    if (name.find('/') == std::string::npos && fs::exists(build)) {
        auto manifest = json::parse(read_file(build), nullptr, false).get<image::Manifest>();
        if (!manifest.commit.empty()) return manifest.commit;
    }
    try {
        return commit::read_commit(target.repo, name).checksum;
    } catch (const Error& e) {
        throw UsageError("--upgrade-to {}: not a build, ref or commit of '{}': {}", name, target.repo.string(),
                         e.what());
    }
}

// The check program on a raw disk of whole sectors.
void write_program_disk(const fs::path& path, const std::string& program) {
    std::string data = program;
    data.resize((data.size() / 4096 + 1) * 4096, '\0');
    write_file_atomic(path, data);
}

// The update repository on an ext4 disk of its own (its root is the repository), made without a mount.
void write_updates_disk(const fs::path& path, const fs::path& repo) {
    std::uint64_t bytes = 0, files = 0;
    for (const auto& entry : fs::recursive_directory_iterator(repo)) {
        ++files;
        if (entry.is_regular_file()) bytes += (entry.file_size() + 4095) / 4096 * 4096;
    }
    std::uint64_t size = (bytes + files * 512) * 5 / 4 + (64ull << 20);
    run_checked<VerifyError>(ProcessOptions{{"mkfs.ext4", "-q", "-F", "-L", "imgbuild-upd", "-N",
                                             std::to_string(files * 3 / 2 + 1024), "-E", "root_owner=0:0,nodiscard",
                                             "-d", repo.string(), path.string(), fmt::format("{}k", size / 1024)}},
                             "make the update disk from the repository");
}

struct Sequence {
    std::string firmware;
    std::vector<Phase> phases;
    std::vector<Expectations> expectations; // one per phase
};

std::string random_token() {
    std::random_device device;
    return fmt::format("imgbuild-test-{:08x}{:08x}", device(), device());
}

Clock::time_point after(double seconds) {
    return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

void run_sequence(Sequence sequence, const MachineSpec& base, const TestOptions& options, TestReport& report) {
    MachineSpec spec = base;
    spec.firmware = sequence.firmware;
    spec.console_log = report.log_dir / fmt::format("{}-console.log", sequence.firmware);
    spec.channel_log = report.log_dir / fmt::format("{}-checks.log", sequence.firmware);
    fs::remove(spec.channel_log);
    if (sequence.firmware == "uefi") {
        auto [code, vars] = ovmf_files();
        if (code.empty()) throw VerifyError("Failed to find OVMF (package ovmf) for a UEFI boot");
        spec.ovmf_vars = spec.disk.parent_path() / "uefi-vars.fd";
        fs::copy_file(vars, spec.ovmf_vars, fs::copy_options::overwrite_existing);
    }
    write_program_disk(spec.program_disk, guest_program(sequence.expectations.front()));
    log::info("booting the image under {} ({}), {} boot{}; console: {}",
              sequence.firmware == "uefi" ? "UEFI (OVMF)" : "BIOS (SeaBIOS)", spec.accel == "kvm" ? "KVM" : "TCG",
              sequence.phases.size(), sequence.phases.size() == 1 ? "" : "s", spec.console_log.string());
    Machine machine(spec);
    for (std::size_t i = 0; i < sequence.phases.size(); ++i) {
        Phase phase = sequence.phases[i];
        const Expectations& expect = sequence.expectations[i];
        std::size_t console_from = machine.console_size();
        BootResult boot;
        boot.firmware = sequence.firmware;
        boot.phase = phase_name(phase);
        boot.commit = expect.commit;
        auto started = Clock::now();
        auto deadline = after(options.boot_timeout);
        // The rollback boots the previous deployment: the menu's second entry.
        int entry = phase == Phase::rollback ? 1 : 0;
        auto fail = [&](std::string why) {
            boot.error = fmt::format("{}; the console's last lines ({}):\n{}", why, spec.console_log.string(),
                                     machine.console_tail());
            report.boots.push_back(boot);
        };
        if (machine.wait_console(grub_menu, deadline) < 0) {
            fail(machine.running() ? fmt::format("GRUB's menu did not appear within {:.0f} s", options.boot_timeout)
                                   : "QEMU exited before GRUB's menu appeared");
            return;
        }
        console_from = machine.console_size(); // this boot's console: from its GRUB menu on
        machine.type(std::string(static_cast<std::size_t>(entry), ctrl_n) + "e");
        if (machine.wait_console(grub_editor, after(30)) < 0) {
            fail("GRUB's entry editor did not open");
            return;
        }
        // To the entry's last line (empty), up past initrd to linux, to its end; add the arguments; boot.
        machine.type(std::string(24, ctrl_n) + std::string(2, ctrl_p) + std::string(1, ctrl_e));
        machine.type(kernel_arguments(phase));
        machine.send(std::string(1, ctrl_x));
        log::info("{} boot {} ({}): booting entry {} with the check program", sequence.firmware, i + 1,
                  phase_name(phase), entry);
        if (!machine.wait_channel(fmt::format("begin {}", phase_name(phase)), deadline)) {
            fail(machine.running()
                     ? fmt::format("the check program did not start within {:.0f} s", options.boot_timeout)
                     : "QEMU exited before the check program started");
            return;
        }
        boot.seconds = std::chrono::duration<double>(Clock::now() - started).count();
        bool ended = machine.wait_channel(fmt::format("end {}", phase_name(phase)), deadline);
        auto guest = parse_report(machine.channel_text(), phase);
        auto checks = evaluate(guest, expect, phase);
        // The console's [FAILED] and "Failed to" lines, from GRUB's menu to the end of the checks.
        checks.push_back(console_check(console_failures(machine.console_since(console_from))));
        for (auto& check : checks) boot.checks.push_back(CheckResult{check.name, check.passed, check.detail});
        // The second boot on a grown disk compares with what the first one saw.
        if (phase == Phase::first_boot && i + 1 < sequence.phases.size()) {
            sequence.expectations[i + 1].previous_partition = reported_partition_size(guest);
            sequence.expectations[i + 1].previous_filesystem = reported_filesystem_size(guest);
        }
        boot.systemd_analyze = guest.first("analyze").value_or("");
        auto times = parse_startup_line(boot.systemd_analyze);
        boot.kernel_seconds = times.kernel;
        boot.initrd_seconds = times.initrd;
        boot.userspace_seconds = times.userspace;
        boot.total_seconds = times.total;
        boot.passed =
            ended && std::all_of(boot.checks.begin(), boot.checks.end(), [](const auto& c) { return c.passed; });
        if (!ended) boot.error = fmt::format("the check program did not finish within {:.0f} s", options.boot_timeout);
        report.boots.push_back(boot);
        std::size_t failed = static_cast<std::size_t>(
            std::count_if(boot.checks.begin(), boot.checks.end(), [](const auto& c) { return !c.passed; }));
        log::info("{} boot {} ({}): {} of {} checks passed, boot {}", sequence.firmware, i + 1, phase_name(phase),
                  boot.checks.size() - failed, boot.checks.size(),
                  boot.systemd_analyze.empty() ? "time not reported" : boot.systemd_analyze);
        // An upgrade that did not happen leaves nothing for the next boots to check.
        if (!ended || (phase == Phase::upgrade && !boot.passed)) return;
    }
    if (!machine.wait_exit(after(120)))
        log::warn("the {} guest did not power off within 120 s; stopped", sequence.firmware);
}

std::string seconds_text(const std::optional<double>& value) {
    return value ? fmt::format("{:.1f} s", *value) : std::string("?");
}

// The image's virtual size (qemu-img info), for a grown copy.
std::uint64_t virtual_size(const fs::path& image, const std::string& format) {
    auto result = run_checked<VerifyError>(
        ProcessOptions{{"qemu-img", "info", "--output=json", "-f", format, image.string()}}, "read the image's size");
    auto info = json::parse(result.output, nullptr, false);
    if (!info.is_object() || !info.contains("virtual-size") || !info["virtual-size"].is_number_unsigned())
        throw VerifyError("Failed to read the size of '{}': qemu-img info gave no virtual-size", image.string());
    return info["virtual-size"].get<std::uint64_t>();
}

} // namespace

TestReport run_test(const TestOptions& options) {
    // Bad input first: before anything boots.
    std::optional<UserData> user_data;
    if (!options.user_data.empty()) user_data = read_user_data(options.user_data);
    if (options.grow == 1 || options.grow > 64) throw UsageError("--grow {}: give a factor from 2 to 64", options.grow);
    if (options.grow && !options.upgrade_to.empty())
        throw UsageError("--grow and --upgrade-to are separate tests: give one of them");
    Target target = locate(options);
    TestReport report;
    report.image = target.image.string();
    report.name = target.manifest.name;
    report.version = target.manifest.version;
    report.commit = target.manifest.commit;
    report.log_dir = options.log_dir.empty() ? target.build_dir / "test" : options.log_dir;
    fs::create_directories(report.log_dir);

    std::vector<std::string> image_boot = target.manifest.boot_or_default();
    std::vector<std::string> firmwares = options.boot.empty() ? image_boot : options.boot;
    for (const auto& firmware : firmwares) {
        if (firmware != "bios" && firmware != "uefi") throw UsageError("unknown firmware '{}' (bios, uefi)", firmware);
        if (std::find(image_boot.begin(), image_boot.end(), firmware) == image_boot.end())
            throw UsageError("the image was not made to boot with {} (its manifest says: {})", firmware,
                             fmt::join(image_boot, ", "));
    }

    Expectations base = expectations_from_manifest(target.manifest);
    base.user_data = user_data;
    std::string target_commit;
    Expectations upgraded;
    if (!options.upgrade_to.empty()) {
        if (target.repo.empty())
            throw UsageError("--upgrade-to needs the repository the image's bundle has beside builds/ (or --repo)");
        if (base.remote_url.empty())
            throw UsageError("--upgrade-to: the image has no ostree remote to upgrade from (recipe: ostree.remote)");
        target_commit = resolve_upgrade(target, options.upgrade_to);
        if (target_commit == base.commit)
            throw UsageError("--upgrade-to {} is the image's own commit {}: nothing to upgrade to", options.upgrade_to,
                             base.commit.substr(0, 12));
        upgraded = expectations_from_manifest(manifest_of_commit(target.repo, target_commit));
        upgraded.user_data = user_data;
        base.target_commit = target_commit;
        base.marker = random_token();
        upgraded.previous_commit = base.commit;
        upgraded.marker = base.marker;
    }

    fs::path work = options.cache_dir / "work" / fmt::format("test-{}", ::getpid());
    RemoveOnExit remove_work{work};
    fs::remove_all(work);
    fs::create_directories(work);

    AccelProbe probe{options.accel, options.cache_dir, work, target.repo, base.commit, base.kernel};
    report.accel = choose_accel(probe);

    MachineSpec spec;
    spec.accel = report.accel;
    spec.disk = work / "overlay.qcow2";
    spec.program_disk = work / "checks.img";
    if (user_data) {
        spec.seed_disk = work / "seed.img";
        spec.isolated_nic = true;
        write_seed_disk(spec.seed_disk, *user_data, random_token(), work);
    }
    if (base.containerd || upgraded.containerd) {
        spec.rootfs_disk = work / "rootfs.img";
        write_rootfs_disk(spec.rootfs_disk);
    }
    std::uint64_t image_size = 0;
    if (options.grow) {
        image_size = virtual_size(target.image, target.format);
        base.image_disk = image_size;
        base.grown_disk = image_size * options.grow;
    }
    if (!target_commit.empty()) {
        spec.updates_disk = work / "updates.img";
        log::info("making the update disk from {}", target.repo.string());
        write_updates_disk(spec.updates_disk, target.repo);
    }

    for (const auto& firmware : firmwares) {
        // A fresh overlay per firmware: each boots the image as it was shipped.
        fs::remove(spec.disk);
        // Grown: the overlay is larger than the image (reads past its end are zeros).
        std::vector<std::string> create = {
            "qemu-img",    "create",          "-q", "-f", "qcow2", "-b", target.image.string(), "-F",
            target.format, spec.disk.string()};
        if (options.grow) create.push_back(std::to_string(base.grown_disk));
        run_checked<VerifyError>(ProcessOptions{create}, "make the copy-on-write overlay");
        Sequence sequence{firmware, {}, {}};
        if (options.grow) {
            sequence.phases = {Phase::first_boot, Phase::second_boot};
            sequence.expectations = {base, base};
        } else if (target_commit.empty()) {
            sequence.phases = {Phase::boot};
            sequence.expectations = {base};
        } else {
            sequence.phases = {Phase::upgrade, Phase::upgraded, Phase::rollback};
            sequence.expectations = {base, upgraded, base};
        }
        run_sequence(sequence, spec, options, report);
        std::size_t expected_boots = 0;
        for (const auto& boot : report.boots)
            if (boot.firmware == firmware) ++expected_boots;
        if (expected_boots < sequence.phases.size())
            for (std::size_t i = expected_boots; i < sequence.phases.size(); ++i)
                report.boots.push_back(BootResult{firmware,
                                                  phase_name(sequence.phases[i]),
                                                  sequence.expectations[i].commit,
                                                  false,
                                                  std::nullopt,
                                                  "",
                                                  {},
                                                  {},
                                                  {},
                                                  {},
                                                  {},
                                                  "not booted: an earlier boot failed"});
    }
    report.passed = !report.boots.empty() &&
                    std::all_of(report.boots.begin(), report.boots.end(), [](const auto& b) { return b.passed; });
    return report;
}

json TestReport::to_json() const {
    json boots_json = json::array();
    for (const auto& boot : boots) {
        json checks = json::array();
        for (const auto& check : boot.checks)
            checks.push_back({{"name", check.name}, {"passed", check.passed}, {"detail", check.detail}});
        json item = {{"firmware", boot.firmware},
                     {"phase", boot.phase},
                     {"commit", boot.commit},
                     {"passed", boot.passed},
                     {"checks", checks}};
        if (boot.seconds) item["seconds-to-checks"] = *boot.seconds;
        if (!boot.systemd_analyze.empty()) {
            json analyze = {{"text", boot.systemd_analyze}};
            if (boot.kernel_seconds) analyze["kernel"] = *boot.kernel_seconds;
            if (boot.initrd_seconds) analyze["initrd"] = *boot.initrd_seconds;
            if (boot.userspace_seconds) analyze["userspace"] = *boot.userspace_seconds;
            if (boot.total_seconds) analyze["total"] = *boot.total_seconds;
            item["systemd-analyze"] = analyze;
        }
        if (!boot.error.empty()) item["error"] = boot.error;
        boots_json.push_back(item);
    }
    return {{"image", image}, {"name", name},     {"version", version},  {"commit", commit},
            {"accel", accel}, {"passed", passed}, {"boots", boots_json}, {"logs", log_dir.string()}};
}

std::string TestReport::to_text() const {
    std::string text = fmt::format("{} {} ({}), {} under {}\n", name, version, commit.substr(0, 12), image,
                                   accel == "kvm" ? "KVM" : "TCG");
    std::size_t total = 0, passed_checks = 0;
    for (std::size_t i = 0; i < boots.size(); ++i) {
        const auto& boot = boots[i];
        text += fmt::format("\n{} {}, {}: {}", boot.firmware, boot.phase, boot.commit.substr(0, 12),
                            boot.passed ? "passed" : "FAILED");
        if (boot.seconds) text += fmt::format(", checks began {:.1f} s after power-on", *boot.seconds);
        text += "\n";
        if (boot.total_seconds)
            text += fmt::format("  boot to multi-user (systemd-analyze): kernel {} + initrd {} + userspace {} = {}\n",
                                seconds_text(boot.kernel_seconds), seconds_text(boot.initrd_seconds),
                                seconds_text(boot.userspace_seconds), seconds_text(boot.total_seconds));
        for (const auto& check : boot.checks) {
            ++total;
            if (check.passed) ++passed_checks;
            text += fmt::format("  {} {}", check.passed ? "ok  " : "FAIL", check.name);
            if (!check.passed) text += ": " + check.detail;
            text += "\n";
        }
        if (!boot.error.empty()) text += "  error: " + boot.error + "\n";
    }
    text += fmt::format("\n{}: {} of {} checks passed in {} boot{}; logs in {}\n", passed ? "PASSED" : "FAILED",
                        passed_checks, total, boots.size(), boots.size() == 1 ? "" : "s", log_dir.string());
    return text;
}

} // namespace imgbuild::verify

// One QEMU process driven through its serial console: the command line (fixed PCI slots, TCG unless KVM
// was asked for, no network), the console read without blocking and kept as a tail, keys typed one at
// a time and echoed before the next (GRUB drops keys sent faster), and the checks' channel file.

#include "machine.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>
#include <thread>

#include <fmt/format.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/process.hpp"
#include "imgbuild/verify/verify.hpp"

namespace imgbuild::verify {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t window_limit = 64 * 1024;
constexpr std::size_t tail_limit = 8 * 1024;
constexpr std::size_t console_limit = 64u << 20;

// Terminal control sequences (GRUB draws its menu with them, systemd colours its status lines).
std::string strip_escapes(std::string_view text) {
    static const std::regex escape("\x1b\\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>78]");
    return std::regex_replace(std::string(text), escape, " ");
}

} // namespace

std::pair<fs::path, fs::path> ovmf_files() {
    for (auto [code, vars] : {std::pair{"/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"},
                              std::pair{"/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"}})
        if (fs::exists(code) && fs::exists(vars)) return {code, vars};
    return {};
}

std::vector<std::string> qemu_command(const MachineSpec& spec) {
    std::vector<std::string> argv = {"qemu-system-x86_64", "-machine", "q35"};
    if (spec.accel == "kvm")
        argv.insert(argv.end(), {"-accel", "kvm", "-cpu", "host"});
    else
        argv.insert(argv.end(), {"-accel", "tcg,thread=multi", "-cpu", "max"});
    argv.insert(argv.end(),
                {"-smp", std::to_string(spec.cpus), "-m", std::to_string(spec.memory_mib), "-nic",
                 spec.isolated_nic && spec.kernel.empty() ? "user,restrict=on,model=virtio-net-pci" : "none",
                 "-display", "none", "-monitor", "none", "-serial", "stdio"});
    if (!spec.kernel.empty()) {
        argv.insert(argv.end(), {"-no-reboot", "-kernel", spec.kernel.string(), "-append",
                                 "console=ttyS0 panic=-1 quiet loglevel=3"});
        return argv;
    }
    argv.insert(argv.end(), {"-serial", "file:" + spec.channel_log.string()});
    // Fixed PCI slots: the root disk probes first (vda), the check program second (/dev/vdb, named on
    // the kernel command line before udev has run), the update repository third.
    argv.insert(argv.end(),
                {"-drive", fmt::format("if=none,id=root,file={},format=qcow2", spec.disk.string()), "-device",
                 "virtio-blk-pci,drive=root,bootindex=0,addr=0x8", "-drive",
                 fmt::format("if=none,id=checks,file={},format=raw,readonly=on", spec.program_disk.string()), "-device",
                 "virtio-blk-pci,drive=checks,serial=imgbuild-test,addr=0x9"});
    if (!spec.updates_disk.empty())
        argv.insert(argv.end(),
                    {"-drive",
                     fmt::format("if=none,id=updates,file={},format=raw,readonly=on", spec.updates_disk.string()),
                     "-device", "virtio-blk-pci,drive=updates,serial=imgbuild-updates,addr=0xa"});
    // The NoCloud seed and the container's root filesystem: cloud-init finds the seed by its label,
    // the check program the root filesystem by its serial (/dev/disk/by-id/virtio-imgbuild-rootfs).
    if (!spec.seed_disk.empty())
        argv.insert(argv.end(),
                    {"-drive", fmt::format("if=none,id=seed,file={},format=raw,readonly=on", spec.seed_disk.string()),
                     "-device", "virtio-blk-pci,drive=seed,serial=imgbuild-seed,addr=0xb"});
    if (!spec.rootfs_disk.empty())
        argv.insert(argv.end(),
                    {"-drive",
                     fmt::format("if=none,id=rootfs,file={},format=raw,readonly=on", spec.rootfs_disk.string()),
                     "-device", "virtio-blk-pci,drive=rootfs,serial=imgbuild-rootfs,addr=0xc"});
    if (spec.firmware == "uefi") {
        auto [code, vars] = ovmf_files();
        argv.insert(argv.end(),
                    {"-drive", fmt::format("if=pflash,format=raw,unit=0,readonly=on,file={}", code.string()), "-drive",
                     fmt::format("if=pflash,format=raw,unit=1,file={}", spec.ovmf_vars.string())});
    }
    return argv;
}

Machine::Machine(MachineSpec spec) : m_spec(std::move(spec)) {
    auto argv = qemu_command(m_spec);
    auto program = find_program(argv.front());
    if (program.empty()) throw VerifyError("Failed to find {} (package qemu-system-x86)", argv.front());
    m_log.open(m_spec.console_log, std::ios::binary | std::ios::trunc);
    if (!m_log) throw VerifyError("Failed to write the serial log '{}'", m_spec.console_log.string());
    m_log << "# " << fmt::format("{}", fmt::join(argv, " ")) << "\n";

    Pipe out, in;
    try {
        out = make_pipe();
        in = make_pipe();
    } catch (const SysError<>& e) {
        throw SysError<VerifyError>(e.errnum(), "make pipes for QEMU");
    }
    std::vector<char*> args;
    for (auto& arg : argv) args.push_back(arg.data());
    args.push_back(nullptr);
    m_pid = ::fork();
    if (m_pid < 0) throw SysError<VerifyError>(errno, "start QEMU");
    if (m_pid == 0) {
        ::dup2(in.read.get(), STDIN_FILENO);
        ::dup2(out.write.get(), STDOUT_FILENO);
        ::dup2(out.write.get(), STDERR_FILENO);
        ::execv(program.c_str(), args.data());
        ::_exit(127);
    }
    m_in = std::move(in.write);
    m_out = std::move(out.read);
    ::fcntl(m_out.get(), F_SETFL, ::fcntl(m_out.get(), F_GETFL) | O_NONBLOCK);
    log::debug("started QEMU (pid {}): {}", m_pid, fmt::join(argv, " "));
}

Machine::~Machine() {
    if (m_pid > 0) {
        ::kill(m_pid, SIGKILL);
        ::waitpid(m_pid, &m_status, 0);
    }
}

void Machine::reap() {
    if (m_pid <= 0) return;
    if (::waitpid(m_pid, &m_status, WNOHANG) == m_pid) m_pid = -1;
}

bool Machine::running() {
    reap();
    return m_pid > 0;
}

void Machine::pump(int timeout_ms) {
    if (!m_out) {
        std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
        return;
    }
    pollfd fd{m_out.get(), POLLIN, 0};
    if (::poll(&fd, 1, timeout_ms) <= 0) return;
    char buffer[65536];
    for (;;) {
        ssize_t n = ::read(m_out.get(), buffer, sizeof buffer);
        if (n > 0) {
            std::string_view chunk(buffer, static_cast<std::size_t>(n));
            m_log.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
            m_log.flush();
            m_tail += chunk;
            if (m_console.size() < console_limit) m_console += chunk;
            m_tail_total += chunk.size();
            if (m_tail.size() > tail_limit) m_tail.erase(0, m_tail.size() - tail_limit);
            m_window += chunk;
            if (m_window.size() > window_limit) m_window.erase(0, m_window.size() - window_limit);
            continue;
        }
        if (n == 0) m_out.close(); // QEMU closed its end: it exited
        return;
    }
}

int Machine::wait_console(const std::vector<std::string>& texts, Clock::time_point deadline) {
    while (Clock::now() < deadline) {
        pump(100);
        std::string plain = strip_escapes(m_window);
        for (std::size_t i = 0; i < texts.size(); ++i)
            if (plain.find(texts[i]) != std::string::npos) {
                m_window.clear();
                return static_cast<int>(i);
            }
        if (!m_out && !running()) return -1;
    }
    return -1;
}

void Machine::send(std::string_view keys) {
    // Small writes: GRUB reads its serial port a byte at a time, and QEMU feeds it as it reads.
    while (!keys.empty()) {
        auto n = ::write(m_in.get(), keys.data(), std::min<std::size_t>(keys.size(), 16));
        if (n < 0) {
            if (errno == EINTR) continue;
            throw SysError<VerifyError>(errno, "type into QEMU's serial console");
        }
        keys.remove_prefix(static_cast<std::size_t>(n));
        pump(5);
    }
}

void Machine::type(std::string_view keys) {
    for (char key : keys) {
        send(std::string_view(&key, 1));
        // Wait for the echo (up to 400 ms), then for 40 ms of quiet.
        std::size_t before = m_tail_total;
        auto give_up = Clock::now() + std::chrono::milliseconds(400);
        while (m_tail_total == before && Clock::now() < give_up && m_out) pump(20);
        for (std::size_t seen = m_tail_total - 1; seen != m_tail_total && m_out;) {
            seen = m_tail_total;
            pump(40);
        }
    }
}

std::string Machine::channel_text() const {
    std::string reason;
    return try_read_file(m_spec.channel_log, reason).value_or("");
}

bool Machine::wait_channel(const std::string& line, Clock::time_point deadline) {
    while (Clock::now() < deadline) {
        pump(200);
        std::string text = channel_text();
        for (std::size_t at = text.find(line); at != std::string::npos; at = text.find(line, at + 1)) {
            bool starts = at == 0 || text[at - 1] == '\n';
            std::size_t after = at + line.size();
            bool ends = after < text.size() && (text[after] == '\n' || text[after] == '\r');
            if (starts && ends) return true;
        }
        if (!m_out && !running()) return false;
    }
    return false;
}

bool Machine::wait_exit(Clock::time_point deadline) {
    while (Clock::now() < deadline) {
        pump(200);
        if (!running()) return true;
    }
    return false;
}

std::string Machine::console_since(std::size_t offset) const {
    return offset >= m_console.size() ? std::string() : m_console.substr(offset);
}

std::string Machine::console_tail(std::size_t lines) const {
    std::string plain = strip_escapes(m_tail);
    std::vector<std::string> kept;
    std::string current;
    for (char c : plain) {
        if (c == '\n') {
            if (current.find_first_not_of(" \r\t") != std::string::npos) kept.push_back(current);
            current.clear();
        } else if (c != '\r') {
            current += c;
        }
    }
    if (current.find_first_not_of(" \t") != std::string::npos) kept.push_back(current);
    std::string result;
    for (std::size_t i = kept.size() > lines ? kept.size() - lines : 0; i < kept.size(); ++i) result += kept[i] + "\n";
    return result;
}

} // namespace imgbuild::verify

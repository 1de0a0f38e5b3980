#pragma once
// One QEMU virtual machine under test: the first serial port on QEMU's stdio (the console the harness
// reads and types into: GRUB's menu, the kernel, getty), the second written to a file (the checks'
// channel), no network, no display. The process is ours: it is killed by PID when the Machine goes.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "imgbuild/core/fd.hpp"

namespace imgbuild::verify {

using Clock = std::chrono::steady_clock;

struct MachineSpec {
    std::string firmware = "bios"; // bios (SeaBIOS), uefi (OVMF)
    std::string accel = "tcg";     // tcg, kvm
    std::filesystem::path disk;    // the root disk (a qcow2 overlay)
    std::filesystem::path kernel;  // instead of disks: boot this kernel directly (the KVM probe)
    std::filesystem::path program_disk;
    std::filesystem::path updates_disk; // optional
    std::filesystem::path seed_disk;    // optional: the NoCloud seed (FAT, label CIDATA)
    std::filesystem::path rootfs_disk;  // optional: the container check's root filesystem (a tar)
    // A virtio NIC on QEMU's user network with restrict=on and no forwarding: the guest gets an address
    // by DHCP from QEMU and reaches nothing, neither the host nor beyond. For boots that provision an
    // instance (user data): cloud-init's network stage waits for network-online.target, which a node
    // without a NIC never reaches. Otherwise the machine has no NIC at all.
    bool isolated_nic = false;
    std::filesystem::path ovmf_vars; // uefi: a writable copy of the variable store
    std::filesystem::path console_log;
    std::filesystem::path channel_log;
    unsigned memory_mib = 2048;
    unsigned cpus = 2;
};

// OVMF's code and variable-store templates (Debian's ovmf package), or empty paths.
std::pair<std::filesystem::path, std::filesystem::path> ovmf_files();

// The qemu-system-x86_64 command line for a spec.
std::vector<std::string> qemu_command(const MachineSpec& spec);

class Machine {
public:
    explicit Machine(MachineSpec spec);
    ~Machine();
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    // Reads the console until one of `texts` appears in what came since the last match (escape
    // sequences removed); returns its index, or -1 at the deadline or when QEMU exits.
    int wait_console(const std::vector<std::string>& texts, Clock::time_point deadline);
    // Types into the console.
    void send(std::string_view keys);
    // Types one key at a time, each after the console has answered the previous one (GRUB redraws the
    // line it edits) or fallen quiet: OVMF's serial console drops keys that come faster than it reads.
    void type(std::string_view keys);
    // Waits (reading the console meanwhile) until the channel holds `line` as a whole line.
    bool wait_channel(const std::string& line, Clock::time_point deadline);
    std::string channel_text() const;
    // Waits for QEMU to exit; false at the deadline.
    bool wait_exit(Clock::time_point deadline);
    bool running();
    // Bytes of console output so far, and the text since such a count (the console of one boot).
    std::size_t console_size() const { return m_console.size(); }
    std::string console_since(std::size_t offset) const;
    // The console's last lines, for error messages.
    std::string console_tail(std::size_t lines = 15) const;

private:
    void pump(int timeout_ms);
    void reap();

    MachineSpec m_spec;
    pid_t m_pid = -1;
    Fd m_in;  // QEMU's stdin: the serial console's keyboard
    Fd m_out; // QEMU's stdout and stderr: the serial console's screen
    int m_status = 0;
    std::ofstream m_log;
    std::string m_window;         // console text since the last match, escape sequences removed
    std::string m_tail;           // the last few KiB of the console
    std::size_t m_tail_total = 0; // bytes read from the console so far
    std::string m_console;        // all of it (up to 64 MiB), for the scan of each boot's failure lines
};

} // namespace imgbuild::verify

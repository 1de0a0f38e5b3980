#pragma once
// A kernel in a root filesystem, and what the recipe needs from it: options (Kconfig), modules, the
// kernel options behind sysctl keys.

#include <filesystem>
#include <iosfwd>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "imgbuild/core/location.hpp"

namespace imgbuild::customize {

// A kernel config (/boot/config-*): option → 'y', 'm' or 'n' ("# CONFIG_X is not set").
using KernelConfig = std::map<std::string, char>;
KernelConfig read_kernel_config(const std::filesystem::path& path);
KernelConfig parse_kernel_config(std::istream& text);

// One line of a kernel-config/*.config fragment: CONFIG_X=y (built in) or CONFIG_X=m (module or built in).
struct ConfigRequirement {
    std::string option;
    char wanted = 'y';
    Location where;
};
std::vector<ConfigRequirement> read_config_fragment(const std::filesystem::path& path);

// What `config` lacks of `requirements`, one message each ("CONFIG_IP_VS=m is not set (FILE:LINE)").
std::vector<std::string> missing_options(const KernelConfig& config,
                                         const std::vector<ConfigRequirement>& requirements);

// Its paths are host paths of the root's files, each resolved inside the root when it was found: a
// link in the image on the way to one (the last component too) is replaced by where it leads there.
struct Kernel {
    std::string version;                // 5.10.0-46-amd64
    std::filesystem::path root;         // the tree it was found in
    std::filesystem::path image;        // /boot/vmlinuz-… or /usr/lib/modules/…/vmlinuz, in the root
    std::filesystem::path config;       // its config, empty when the kernel package ships none
    std::filesystem::path modules;      // /usr/lib/modules/<version> in the root
    std::set<std::string> module_names; // loadable and built in, '-' written as '_'
    std::set<std::string> builtin;
};

// The one kernel installed in `root` (throws when there is none or several), read inside the root.
Kernel find_kernel(const std::filesystem::path& root);

// What the checks need to know of a kernel, from an installed root or from its packages.
struct KernelFacts {
    std::string version;
    std::optional<KernelConfig> config; // nullopt: the kernel ships no config
    std::set<std::string> modules;      // loadable and built in, '-' written as '_'
};
KernelFacts kernel_facts(const Kernel& kernel);
// The kernel in a set of packages (.deb or .rpm: its config, modules.builtin and *.ko files), read
// without installing them. Throws when they hold no kernel, or several.
KernelFacts kernel_from_packages(const std::vector<std::filesystem::path>& packages);

// The kernel option a sysctl key needs ("net.ipv4.vs.expire_nodest_conn" → CONFIG_IP_VS), with the
// module providing it when built as one; nullopt for core keys. `value` matters for keys naming an
// algorithm (tcp_congestion_control=bbr → CONFIG_TCP_CONG_BBR).
struct SysctlNeed {
    std::string option;
    std::string module;        // loads the option when it is =m
    std::string since_version; // the first kernel version with the key, when newer than the option
};
std::optional<SysctlNeed> sysctl_need(const std::string& key, const std::string& value);

// Compares kernel versions ("5.10.0-46-amd64" < "5.18").
bool version_at_least(const std::string& version, const std::string& minimum);

} // namespace imgbuild::customize

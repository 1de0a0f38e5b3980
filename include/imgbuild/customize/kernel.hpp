#pragma once
// A kernel in a root filesystem, and what the recipe needs from it: options (Kconfig), modules, the
// kernel options behind sysctl keys.

#include <filesystem>
#include <iosfwd>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
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

// The words of a kernel: every NUL-terminated run of 2 to 64 name characters (letters, digits, '_',
// '-') in its decompressed image and its modules. Every sysctl name is one of them or the end of one
// (the linker merges "rp_filter" into "arp_filter"), which tells a name the kernel has from a typo.
class KernelWords {
public:
    KernelWords() = default;
    explicit KernelWords(std::vector<std::string> words);
    static KernelWords from_reversed(std::vector<std::string> reversed_sorted);
    // Whether some word ends with `name`.
    bool ends_a_word(std::string_view name) const;
    // Each word reversed, sorted, once.
    const std::vector<std::string>& reversed() const { return m_reversed; }

private:
    std::vector<std::string> m_reversed;
};
// Appends the words of `bytes` (an image, a module) to `words`.
void collect_words(std::string_view bytes, std::vector<std::string>& words);
// The kernel (vmlinux, an ELF file) inside a bzImage, decompressed; nullopt when `image` is no bzImage
// or its payload is compressed in a way libarchive does not read.
std::optional<std::string> decompress_bzimage(std::string_view image);
// The words of the kernel in a root, cached under CACHE/kernel by the image's digest (checked by the
// sha256 the file starts with); nullopt when its image cannot be read as a bzImage.
std::optional<KernelWords> kernel_words(const Kernel& kernel, const std::filesystem::path& cache_dir);

// What the checks need to know of a kernel, from an installed root or from its packages.
struct KernelFacts {
    std::string version;
    std::optional<KernelConfig> config; // nullopt: the kernel ships no config
    std::set<std::string> modules;      // loadable and built in, '-' written as '_'
    std::optional<KernelWords> words;   // nullopt: the kernel's image could not be read
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

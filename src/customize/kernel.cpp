// Kernel facts read from an installed root: the kernel's config, its modules (modules.dep and
// modules.builtin, as kmod reads them), and the kernel options that sysctl keys live in. The root is
// read through a RootDir: a link in the image leads to a file of the image, never to the host's.

#include "imgbuild/customize/kernel.hpp"

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/root_dir.hpp"
#include "imgbuild/install/payload.hpp"

namespace imgbuild::customize {
namespace {

namespace fs = std::filesystem;

// "kernel/net/bridge/br_netfilter.ko.xz" → "br_netfilter" (kmod treats '-' and '_' alike).
std::string module_name(std::string path) {
    auto slash = path.rfind('/');
    if (slash != std::string::npos) path = path.substr(slash + 1);
    auto ko = path.find(".ko");
    if (ko != std::string::npos) path = path.substr(0, ko);
    std::replace(path.begin(), path.end(), '-', '_');
    return path;
}

std::vector<int> version_numbers(const std::string& version) {
    std::vector<int> numbers;
    static const std::regex number("[0-9]+");
    std::string head = version.substr(0, version.find_first_not_of("0123456789."));
    for (std::sregex_iterator it(head.begin(), head.end(), number), end; it != end; ++it)
        numbers.push_back(std::stoi(it->str()));
    return numbers;
}

} // namespace

KernelConfig parse_kernel_config(std::istream& stream) {
    KernelConfig config;
    static const std::regex set("(CONFIG_[A-Za-z0-9_]+)=(.*)"), unset("# (CONFIG_[A-Za-z0-9_]+) is not set");
    for (std::string line; std::getline(stream, line);) {
        std::smatch match;
        if (std::regex_match(line, match, set)) {
            std::string value = match[2];
            config[match[1]] = value == "y" || value == "m" ? value[0] : (value == "n" ? 'n' : 'y');
        } else if (std::regex_match(line, match, unset)) {
            config[match[1]] = 'n';
        }
    }
    return config;
}

KernelConfig read_kernel_config(const fs::path& path) {
    std::ifstream stream(path);
    if (!stream) throw SysError(errno, "read the kernel config '{}'", path.string());
    return parse_kernel_config(stream);
}

std::vector<ConfigRequirement> read_config_fragment(const fs::path& path) {
    std::vector<ConfigRequirement> requirements;
    std::vector<Diagnostic> problems;
    std::string file = readable_path(path);
    std::ifstream stream(path);
    if (!stream)
        throw RecipeError(
            {{Location{file, 0, 0}, fmt::format("cannot read the kernel config fragment: {}", errno_text(errno))}});
    static const std::regex requirement(R"(\s*(CONFIG_[A-Za-z0-9_]+)=([ym])\s*)");
    int number = 0;
    for (std::string line; std::getline(stream, line);) {
        ++number;
        auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        std::smatch match;
        if (std::regex_match(line, match, requirement))
            requirements.push_back({match[1], match[2].str()[0], Location{file, number, 1}});
        else
            problems.push_back(
                {Location{file, number, 1}, fmt::format("'{}' is not CONFIG_NAME=y or CONFIG_NAME=m", line)});
    }
    if (!problems.empty()) throw RecipeError(std::move(problems));
    return requirements;
}

std::vector<std::string> missing_options(const KernelConfig& config,
                                         const std::vector<ConfigRequirement>& requirements) {
    std::vector<std::string> missing;
    for (const auto& requirement : requirements) {
        auto it = config.find(requirement.option);
        char have = it == config.end() ? 'n' : it->second;
        bool ok = have == 'y' || (requirement.wanted == 'm' && have == 'm');
        if (!ok)
            missing.push_back(fmt::format("{}={} is {} ({})", requirement.option, requirement.wanted,
                                          have == 'm' ? "a module, not built in" : "not set", requirement.where.str()));
    }
    return missing;
}

Kernel find_kernel(const fs::path& root) {
    RootDir tree(root);
    const fs::path modules_dir = "usr/lib/modules";
    std::vector<std::string> candidates;
    for (const auto& name : tree.list(modules_dir)) {
        fs::path dir = modules_dir / name;
        if (tree.is_directory(dir) && (tree.exists(dir / "modules.dep") || tree.exists(dir / "vmlinuz")))
            candidates.push_back(name);
    }
    if (candidates.empty())
        throw Error("Failed to find the kernel: the root has no /usr/lib/modules/<version> with modules.dep");
    if (candidates.size() > 1)
        throw Error("Failed to find the kernel: the root has several ({}); an image boots one",
                    fmt::join(candidates, ", "));
    Kernel kernel;
    kernel.version = candidates.front();
    kernel.root = root;
    // Host paths of where each leads inside the root: nothing reading them on the host follows a link.
    auto in_root = [&](const fs::path& path) { return root / fs::path(tree.resolve(path)).relative_path(); };
    fs::path modules = modules_dir / kernel.version;
    kernel.modules = in_root(modules);
    for (const fs::path& image : {fs::path("boot") / ("vmlinuz-" + kernel.version), modules / "vmlinuz"})
        if (tree.is_regular_file(image)) kernel.image = in_root(image);
    if (kernel.image.empty())
        throw Error("Failed to find the kernel image of {}: neither /boot/vmlinuz-{} nor {}/vmlinuz exists",
                    kernel.version, kernel.version, "/usr/lib/modules/" + kernel.version);
    for (const fs::path& config : {fs::path("boot") / ("config-" + kernel.version), modules / "config"})
        if (tree.is_regular_file(config)) kernel.config = in_root(config);
    std::istringstream dep(tree.try_read(modules / "modules.dep").value_or(""));
    for (std::string line; std::getline(dep, line);)
        if (auto colon = line.find(':'); colon != std::string::npos)
            kernel.module_names.insert(module_name(line.substr(0, colon)));
    std::istringstream builtin(tree.try_read(modules / "modules.builtin").value_or(""));
    for (std::string line; std::getline(builtin, line);)
        if (!line.empty()) kernel.builtin.insert(module_name(line));
    kernel.module_names.insert(kernel.builtin.begin(), kernel.builtin.end());
    return kernel;
}

KernelFacts kernel_facts(const Kernel& kernel) {
    KernelFacts facts{kernel.version, std::nullopt, kernel.module_names};
    if (kernel.config.empty()) return facts;
    if (kernel.root.empty()) {
        facts.config = read_kernel_config(kernel.config);
    } else {
        std::istringstream text(RootDir(kernel.root).read(kernel.config.lexically_relative(kernel.root)));
        facts.config = parse_kernel_config(text);
    }
    return facts;
}

KernelFacts kernel_from_packages(const std::vector<fs::path>& packages) {
    // Per kernel version found: its config, its modules.
    std::map<std::string, KernelFacts> kernels;
    std::map<std::string, std::vector<std::string>> words; // of each version's image and modules
    static const std::regex image_path(R"((?:usr/)?(?:boot/vmlinuz-(.+)|lib/modules/([^/]+)/vmlinuz))");
    static const std::regex config_path(R"((?:usr/)?(?:boot/config-(.+)|lib/modules/([^/]+)/config))");
    static const std::regex module_path(R"((?:usr/)?lib/modules/([^/]+)/(kernel/.*\.ko(\..*)?|modules\.builtin))");
    for (const auto& package : packages) {
        install::read_payload(package, [&](const install::PayloadEntry& entry, const auto& read) {
            if (!entry.regular) return true;
            std::smatch match;
            if (std::regex_match(entry.path, match, image_path)) {
                std::string version = match[1].matched ? match[1].str() : match[2].str();
                if (auto vmlinux = decompress_bzimage(read())) collect_words(*vmlinux, words[version]);
            } else if (std::regex_match(entry.path, match, config_path)) {
                std::string version = match[1].matched ? match[1].str() : match[2].str();
                std::istringstream text(read());
                kernels[version].version = version;
                kernels[version].config = parse_kernel_config(text);
            } else if (std::regex_match(entry.path, match, module_path)) {
                auto& kernel = kernels[match[1].str()];
                kernel.version = match[1].str();
                if (match[2].str() == "modules.builtin") {
                    std::istringstream lines(read());
                    for (std::string line; std::getline(lines, line);)
                        if (!line.empty()) kernel.modules.insert(module_name(line));
                } else {
                    kernel.modules.insert(module_name(match[2].str()));
                    if (match[2].str().ends_with(".ko")) collect_words(read(), words[match[1].str()]);
                }
            }
            return true;
        });
    }
    if (kernels.empty())
        throw Error("Failed to find a kernel in the packages: none ships /boot/config-* or /lib/modules/<version>");
    if (kernels.size() > 1) {
        std::vector<std::string> versions;
        for (const auto& [version, facts] : kernels) versions.push_back(version);
        throw Error("Failed to choose a kernel: the packages hold several ({})", fmt::join(versions, ", "));
    }
    auto& [version, facts] = *kernels.begin();
    if (auto found = words.find(version); found != words.end() && !found->second.empty())
        facts.words = KernelWords(std::move(found->second));
    return facts;
}

std::optional<SysctlNeed> sysctl_need(const std::string& key, const std::string& value) {
    // Keys whose subsystem is optional in the kernel; the rest (kernel.*, vm.*, net.core.*, most of
    // net.ipv4.*) are always there.
    struct Prefix {
        const char* prefix;
        SysctlNeed need;
    };
    static const Prefix prefixes[] = {
        {"net.ipv4.vs.run_estimation", {"CONFIG_IP_VS", "ip_vs", "5.18"}},
        {"net.ipv4.vs.", {"CONFIG_IP_VS", "ip_vs", ""}},
        {"net.netfilter.nf_conntrack", {"CONFIG_NF_CONNTRACK", "nf_conntrack", ""}},
        {"net.nf_conntrack_max", {"CONFIG_NF_CONNTRACK", "nf_conntrack", ""}},
        {"net.bridge.bridge-nf-", {"CONFIG_BRIDGE_NETFILTER", "br_netfilter", ""}},
        {"net.ipv6.", {"CONFIG_IPV6", "ipv6", ""}},
        {"fs.inotify.", {"CONFIG_INOTIFY_USER", "", ""}},
        {"user.max_user_namespaces", {"CONFIG_USER_NS", "", ""}},
        {"net.ipv4.tcp_max_orphans", {"CONFIG_INET", "", ""}},
    };
    std::string name = key.starts_with('-') ? key.substr(1) : key;
    std::replace(name.begin(), name.end(), '/', '.');
    if (name == "net.ipv4.tcp_congestion_control") {
        static const std::map<std::string, SysctlNeed> algorithms = {
            {"bbr", {"CONFIG_TCP_CONG_BBR", "tcp_bbr", ""}},
            {"htcp", {"CONFIG_TCP_CONG_HTCP", "tcp_htcp", ""}},
            {"dctcp", {"CONFIG_TCP_CONG_DCTCP", "tcp_dctcp", ""}},
            {"bic", {"CONFIG_TCP_CONG_BIC", "tcp_bic", ""}}};
        auto it = algorithms.find(value);
        return it == algorithms.end() ? std::nullopt : std::optional(it->second);
    }
    if (name == "net.core.default_qdisc") {
        static const std::map<std::string, SysctlNeed> qdiscs = {
            {"fq", {"CONFIG_NET_SCH_FQ", "sch_fq", ""}},
            {"fq_codel", {"CONFIG_NET_SCH_FQ_CODEL", "sch_fq_codel", ""}},
            {"cake", {"CONFIG_NET_SCH_CAKE", "sch_cake", ""}}};
        auto it = qdiscs.find(value);
        return it == qdiscs.end() ? std::nullopt : std::optional(it->second);
    }
    for (const auto& prefix : prefixes)
        if (name.starts_with(prefix.prefix)) return prefix.need;
    return std::nullopt;
}

bool version_at_least(const std::string& version, const std::string& minimum) {
    return version_numbers(version) >= version_numbers(minimum);
}

} // namespace imgbuild::customize

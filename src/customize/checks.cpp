// The recipe checked against the root's kernel, before anything is changed: a module that does not
// exist or a sysctl whose subsystem the kernel lacks would only fail on a booted node, silently.

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "imgbuild/core/error.hpp"
#include "imgbuild/core/strings.hpp"
#include "steps.hpp"

namespace imgbuild::customize {

std::vector<Diagnostic> kernel_findings(const recipe::Recipe& recipe, const KernelFacts& kernel) {
    using json = nlohmann::json;
    const json& document = recipe.json();
    std::vector<Diagnostic> findings;
    auto where = [&](const json::json_pointer& pointer) { return recipe.sources().value(pointer); };
    auto key_where = [&](const json::json_pointer& pointer) { return recipe.sources().key(pointer); };
    const KernelConfig& config = kernel.config ? *kernel.config : KernelConfig{};

    // kernel.config-require: the fragments' options.
    if (document.contains("kernel") && document["kernel"].contains("config-require")) {
        const auto& fragments = document["kernel"]["config-require"];
        for (std::size_t i = 0; i < fragments.size(); ++i) {
            auto pointer = json::json_pointer("/kernel/config-require") / i;
            if (!kernel.config) {
                findings.push_back(
                    {where(pointer), fmt::format("kernel {} ships no config (/boot/config-{}) to check the "
                                                 "required options against",
                                                 kernel.version, kernel.version)});
                break;
            }
            auto missing = missing_options(config, read_config_fragment(fragments[i].get<std::string>()));
            if (!missing.empty())
                findings.push_back(
                    {where(pointer),
                     fmt::format("kernel {} lacks {} required option{}:\n  {}", kernel.version, missing.size(),
                                 missing.size() == 1 ? "" : "s", fmt::join(missing, "\n  "))});
        }
    }

    // Modules: loaded at boot, or wanted in the initramfs.
    std::set<std::string> loaded;
    for (const char* list : {"/modules-load", "/initramfs/drivers"}) {
        auto pointer = json::json_pointer(list);
        if (!document.contains(pointer)) continue;
        const auto& modules = document.at(pointer);
        for (std::size_t i = 0; i < modules.size(); ++i) {
            std::string name = modules[i].get<std::string>();
            std::string normal = name;
            std::replace(normal.begin(), normal.end(), '-', '_');
            if (std::string(list) == "/modules-load") loaded.insert(normal);
            if (!kernel.modules.count(normal))
                findings.push_back(
                    {where(pointer / i), fmt::format("kernel {} has no module '{}' (neither in modules.dep nor "
                                                     "built in)",
                                                     kernel.version, name)});
        }
    }

    // sysctl keys whose subsystem is optional: the option must be there, and when it is a module,
    // loaded at boot (systemd-sysctl runs after systemd-modules-load).
    if (document.contains("sysctl") && kernel.config) {
        for (const auto& [key, value] : document["sysctl"].items()) {
            auto pointer = json::json_pointer("/sysctl") / key;
            std::string text = value.is_string() ? value.get<std::string>() : value.dump();
            auto need = sysctl_need(key, text);
            if (!need) continue;
            auto it = config.find(need->option);
            char have = it == config.end() ? 'n' : it->second;
            if (have == 'n') {
                findings.push_back(
                    {key_where(pointer), fmt::format("sysctl '{}' needs {}, which kernel {} does not have", key,
                                                     need->option, kernel.version)});
            } else if (!need->since_version.empty() && !version_at_least(kernel.version, need->since_version)) {
                findings.push_back(
                    {key_where(pointer), fmt::format("sysctl '{}' exists from kernel {} on; this kernel is {}", key,
                                                     need->since_version, kernel.version)});
            } else if (have == 'm' && !need->module.empty() && !loaded.count(need->module)) {
                findings.push_back(
                    {key_where(pointer), fmt::format("sysctl '{}' needs the module {} ({}=m), which is not in "
                                                     "modules-load: add it, or the setting is lost at boot",
                                                     key, need->module, need->option)});
            }
        }
    }
    // sysctl names the kernel has nowhere (a typo, a knob of another kernel version).
    if (document.contains("sysctl") && kernel.words) {
        std::set<std::string> reported; // keys already found wanting above (a newer kernel's knob)
        for (const auto& finding : findings) reported.insert(finding.where.str());
        for (const auto& [key, value] : document["sysctl"].items()) {
            if (reported.count(key_where(json::json_pointer("/sysctl") / key).str())) continue;
            auto segment = unknown_sysctl_segment(key, *kernel.words);
            if (!segment) continue;
            std::vector<std::string> near; // words of about the same length, for "did you mean"
            for (const auto& reversed : kernel.words->reversed())
                if (reversed.size() + 2 >= segment->size() && reversed.size() <= segment->size() + 2)
                    near.emplace_back(reversed.rbegin(), reversed.rend());
            findings.push_back({key_where(json::json_pointer("/sysctl") / key),
                                fmt::format("sysctl '{}' is not a knob of kernel {}: neither the kernel nor its "
                                            "modules have the name '{}'{}",
                                            key, kernel.version, *segment, did_you_mean(*segment, near))});
        }
    }
    sort_unique(findings);
    return findings;
}

std::optional<std::string> unknown_sysctl_segment(const std::string& key, const KernelWords& words) {
    // systemd-sysctl: a leading '-' ignores a failure, '/' separates like '.'.
    std::string name = key.starts_with('-') ? key.substr(1) : key;
    std::replace(name.begin(), name.end(), '/', '.');
    std::vector<std::string> segments;
    for (std::size_t start = 0;;) {
        auto dot = name.find('.', start);
        segments.push_back(name.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
        if (dot == std::string::npos) break;
        start = dot + 1;
    }
    if (segments.size() >= 2 && segments[0] == "fs" && segments[1] == "binfmt_misc")
        return std::nullopt; // made at run time
    for (std::size_t i = 0; i < segments.size(); ++i) {
        const std::string& segment = segments[i];
        if (segment == "sched_domain") break; // cpuN.domainM below it: made at run time
        bool made_at_run_time = segment.empty() || segment.find_first_of("*?[") != std::string::npos ||
                                segment.find_first_not_of("0123456789") == std::string::npos ||
                                // net.ipv4.conf.<interface>.x, net.ipv6.neigh.<interface>.x: interface names
                                (i >= 2 && (segments[i - 1] == "conf" || segments[i - 1] == "neigh"));
        if (!made_at_run_time && !words.ends_a_word(segment)) return segment;
    }
    return std::nullopt;
}

void check_kernel(const recipe::Recipe& recipe, const std::filesystem::path& root,
                  const std::filesystem::path& cache_dir) {
    auto kernel = find_kernel(root);
    auto facts = kernel_facts(kernel);
    if (recipe.json().contains("sysctl")) facts.words = kernel_words(kernel, cache_dir);
    auto findings = kernel_findings(recipe, facts);
    if (!findings.empty()) throw RecipeError(std::move(findings));
}

} // namespace imgbuild::customize

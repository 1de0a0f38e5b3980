// Solving with libsolv, and making its choices the ones apt would make. libsolv meets "a | b" and a
// virtual package with whichever provider its policy ranks first; apt takes the first alternative that
// can be installed and, for a virtual package, the provider of highest Priority. After each solve, every
// choice that differs from apt's becomes a job (a weak install, or a favour) and the set is solved again
// until nothing changes. Neither is a requirement: what the recipe asks for or prefers always wins.

#include "solve.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "imgbuild/core/log.hpp"
#include "imgbuild/core/strings.hpp"
#include "imgbuild/resolve/resolve.hpp"

namespace imgbuild::resolve {
namespace {

// Debian writes "pkg=1.0", "<<" and ">>"; libsolv's selections read "pkg = 1.0", "<" and ">".
std::string normalize_spec(std::string spec) {
    for (auto [from, to] : {std::pair{"<<", "<"}, std::pair{">>", ">"}, std::pair{"==", "="}}) {
        for (auto at = spec.find(from); at != std::string::npos; at = spec.find(from, at)) spec.replace(at, 2, to);
    }
    return spec;
}

wrap::Queue select(const PackagePool& pool, const std::string& spec) {
    std::string text = normalize_spec(spec);
    int flags = SELECTION_NAME | SELECTION_PROVIDES | SELECTION_GLOB | SELECTION_REL;
    // A glob names one package of several (a kernel whose ABI is in its name): install the best match.
    if (text.find_first_of("*?[") != std::string::npos) flags |= SELECTION_FLAT;
    wrap::Queue selection;
    selection_make(pool.get(), selection.get(), text.c_str(), flags);
    return selection;
}

std::vector<Id> providers(Pool* pool, Id dep) {
    std::vector<Id> result;
    for (Id* p = pool->whatprovidesdata + pool_whatprovides(pool, dep); *p; ++p) result.push_back(*p);
    return result;
}

std::string unknown_package(const PackagePool& pool, const PackageRequest& request,
                            std::string_view what = "a package") {
    Pool* p = pool.get();
    std::string name = recipe::package_name(request.spec);
    // The name exists, but not in the version asked for: say which versions there are.
    if (Id id = pool_str2id(p, name.c_str(), 0)) {
        std::set<std::string> available;
        for (Id candidate : providers(p, id))
            if (p->solvables[candidate].name == id) available.insert(pool_id2str(p, p->solvables[candidate].evr));
        if (!available.empty())
            return fmt::format("{}: no repo has {} '{}' (the repos have {} {})", request.where.str(), what,
                               request.spec, name, fmt::join(available, ", "));
    }
    std::vector<std::string> names;
    std::set<Id> seen;
    for (Id id = 2; id < p->nsolvables; ++id) {
        const Solvable* s = p->solvables + id;
        if (s->repo && seen.insert(s->name).second) names.push_back(pool_id2str(p, s->name));
    }
    return fmt::format("{}: no repo has {} '{}'{}", request.where.str(), what, request.spec, did_you_mean(name, names));
}

// Every alternative of a dependency "a | b | c" in order (libsolv nests them to the right).
void alternatives(const Pool* pool, Id dep, std::vector<Id>& out) {
    if (wrap::is_reldep(dep)) {
        const Reldep* rel = wrap::reldep(pool, dep);
        if (rel->flags == REL_OR) {
            alternatives(pool, rel->name, out);
            alternatives(pool, rel->evr, out);
            return;
        }
    }
    out.push_back(dep);
}

class Jobs {
public:
    void add(Id how, Id what, std::string origin) {
        m_queue.push2(how, what);
        m_origins.push_back(std::move(origin));
    }
    void add_selection(const wrap::Queue& selection, Id how, const std::string& origin) {
        for (int i = 0; i + 1 < selection.size(); i += 2) add(selection[i] | how, selection[i + 1], origin);
    }
    bool contains(Id how, Id what) const {
        for (int i = 0; i + 1 < m_queue.size(); i += 2)
            if (m_queue[i] == how && m_queue[i + 1] == what) return true;
        return false;
    }
    wrap::Queue& queue() { return m_queue; }
    const std::string& origin(Id index) const { return m_origins.at(static_cast<std::size_t>(index / 2)); }

private:
    wrap::Queue m_queue;
    std::vector<std::string> m_origins;
};

std::string problems_text(Solver* solver, const PackagePool& pool, const Jobs& jobs) {
    std::string text;
    int count = wrap::count(solver_problem_count(solver));
    for (Id problem = 1; problem <= count; ++problem) {
        text += fmt::format("\nproblem {}: {}", problem, solver_problem2str(solver, problem));
        wrap::Queue rules;
        solver_findallproblemrules(solver, problem, rules.get());
        std::set<std::string> seen;
        for (Id rule : rules.ids()) {
            Id source = 0, target = 0, dep = 0;
            SolverRuleinfo type = solver_ruleinfo(solver, rule, &source, &target, &dep);
            std::string line = solver_problemruleinfo2str(solver, type, source, target, dep);
            if (seen.insert(line).second) text += "\n  - " + line;
        }
        int solutions = wrap::count(solver_solution_count(solver, problem));
        for (Id solution = 1; solution <= solutions; ++solution) {
            text += fmt::format("\n  solution {}:", solution);
            Id element = 0, p = 0, rp = 0;
            while ((element = solver_next_solutionelement(solver, problem, solution, element, &p, &rp)) != 0) {
                std::string line = solver_solutionelement2str(solver, p, rp);
                if (p == SOLVER_SOLUTION_JOB) line += fmt::format(" ({})", jobs.origin(rp));
                text += "\n    - " + line;
            }
        }
    }
    (void)pool;
    return text;
}

// The jobs that make libsolv's choices apt's; empty when they already are. A choice the recipe made (a
// package it asks for, or prefers) stands. For "a | b" the job is a weak install of a ("install if it
// can be"), not a favour: libsolv's auto-minimisation reverts a favoured alternative whenever the other
// one gets installed anyway (gnupg | gpg, where gnupg itself depends on gpg), which apt does not.
std::vector<std::pair<Id, Id>> apt_choices(const PackagePool& pool, const std::vector<Id>& installed,
                                           const std::set<Id>& requested, const Jobs& jobs) {
    Pool* p = pool.get();
    std::set<Id> chosen(installed.begin(), installed.end());
    auto any_in = [](const std::vector<Id>& candidates, const std::set<Id>& set) {
        return std::any_of(candidates.begin(), candidates.end(), [&](Id id) { return set.count(id) > 0; });
    };
    auto requires_of = [&](Id id) {
        wrap::Queue deps;
        solvable_lookup_deparray(p->solvables + id, SOLVABLE_REQUIRES, deps.get(), 0);
        std::vector<Id> result;
        for (Id dep : deps.ids())
            if (dep != SOLVABLE_PREREQMARKER) result.push_back(dep);
        return result;
    };
    // What is installed for a reason other than an alternative: asked for, or a plain dependency. apt
    // finds "a | b" already met when b is one of these.
    std::set<Id> needed = requested;
    for (Id id : installed)
        for (Id dep : requires_of(id)) {
            std::vector<Id> choices;
            alternatives(p, dep, choices);
            if (choices.size() == 1)
                for (Id provider : providers(p, dep))
                    if (chosen.count(provider)) needed.insert(provider);
        }

    std::vector<std::pair<Id, Id>> result;
    auto add = [&](Id how, Id what) {
        if (!jobs.contains(how, what) && std::find(result.begin(), result.end(), std::pair{how, what}) == result.end())
            result.emplace_back(how, what);
    };
    for (Id id : installed) {
        for (Id dep : requires_of(id)) {
            std::vector<Id> choices;
            alternatives(p, dep, choices);
            if (choices.size() > 1) {
                bool already_met = std::any_of(choices.begin(), choices.end(),
                                               [&](Id choice) { return any_in(providers(p, choice), needed); });
                auto first = providers(p, choices.front());
                if (already_met || first.empty() || any_in(first, chosen)) continue;
                add(SOLVER_INSTALL | SOLVER_WEAK | SOLVER_SOLVABLE_PROVIDES, choices.front());
                continue;
            }
            // A virtual package with several providers: apt takes the one of highest Priority.
            auto candidates = providers(p, dep);
            if (candidates.size() < 2 || any_in(candidates, requested)) continue;
            Id name = wrap::is_reldep(dep) ? wrap::reldep(p, dep)->name : dep;
            bool real =
                std::any_of(candidates.begin(), candidates.end(), [&](Id c) { return p->solvables[c].name == name; });
            if (real) continue;
            Id best = candidates.front();
            for (Id c : candidates)
                if (pool.priority_rank(pool.name(c)) > pool.priority_rank(pool.name(best))) best = c;
            auto installed_provider =
                std::find_if(candidates.begin(), candidates.end(), [&](Id c) { return chosen.count(c); });
            if (installed_provider != candidates.end() &&
                pool.priority_rank(pool.name(*installed_provider)) < pool.priority_rank(pool.name(best)))
                add(SOLVER_FAVOR | SOLVER_SOLVABLE_NAME, p->solvables[best].name);
        }
    }
    return result;
}

std::optional<Id> find_exact(const PackagePool& pool, const LockedPackage& package, bool match_checksum) {
    Pool* p = pool.get();
    Id name = pool_str2id(p, package.name.c_str(), 0);
    if (!name) return std::nullopt;
    for (Id* candidate = p->whatprovidesdata + pool_whatprovides(p, name); *candidate; ++candidate) {
        const Solvable* s = p->solvables + *candidate;
        if (s->name != name || package.version != pool_id2str(p, s->evr) || package.arch != pool_id2str(p, s->arch))
            continue;
        if (!match_checksum) return *candidate;
        Id type = 0;
        const char* checksum = solvable_lookup_checksum(const_cast<Solvable*>(s), SOLVABLE_CHECKSUM, &type);
        if (checksum && package.checksum.hex == checksum) return *candidate;
    }
    return std::nullopt;
}

} // namespace

std::vector<Id> solve(const PackagePool& pool, const SolveInput& input) {
    Pool* p = pool.get();
    Jobs jobs;
    std::set<Id> requested;
    std::vector<std::string> unknown;

    for (const auto& request : input.install) {
        auto selection = select(pool, request.spec);
        if (selection.empty()) {
            unknown.push_back(unknown_package(pool, request));
            continue;
        }
        jobs.add_selection(selection, SOLVER_INSTALL, fmt::format("'{}' at {}", request.spec, request.where.str()));
        wrap::Queue solvables;
        selection_solvables(p, selection.get(), solvables.get());
        requested.insert(solvables.ids().begin(), solvables.ids().end());
    }
    // The kernel's package is one more install request; naming one that does not exist is a recipe
    // mistake at kernel.package, found here rather than when customize looks for a kernel.
    if (input.kernel) {
        const PackageRequest& request = *input.kernel;
        auto selection = select(pool, request.spec);
        if (selection.empty()) {
            unknown.push_back(unknown_package(pool, request, "the kernel package (kernel.package)"));
        } else {
            jobs.add_selection(selection, SOLVER_INSTALL,
                               fmt::format("kernel.package '{}' at {}", request.spec, request.where.str()));
            wrap::Queue solvables;
            selection_solvables(p, selection.get(), solvables.get());
            requested.insert(solvables.ids().begin(), solvables.ids().end());
        }
    }
    std::set<std::string> excluded_names;
    for (const auto& request : input.exclude) {
        auto selection = select(pool, request.spec);
        if (selection.empty()) {
            log::warn("{}: exclude '{}' matches no package of the repos", request.where.str(), request.spec);
            continue;
        }
        jobs.add_selection(selection, SOLVER_LOCK,
                           fmt::format("exclude '{}' at {}", request.spec, request.where.str()));
        wrap::Queue solvables;
        selection_solvables(p, selection.get(), solvables.get());
        for (Id id : solvables.ids()) excluded_names.insert(pool.name(id));
    }
    for (const auto& request : input.prefer) {
        auto selection = select(pool, request.spec);
        if (selection.empty()) {
            unknown.push_back(unknown_package(pool, request));
            continue;
        }
        jobs.add_selection(selection, SOLVER_FAVOR,
                           fmt::format("prefer '{}' at {}", request.spec, request.where.str()));
        // A choice the recipe made stands: apt's defaults do not override it.
        wrap::Queue solvables;
        selection_solvables(p, selection.get(), solvables.get());
        requested.insert(solvables.ids().begin(), solvables.ids().end());
    }
    if (!unknown.empty()) throw ResolveError("Failed to resolve the package set:\n  {}", fmt::join(unknown, "\n  "));

    // Debian's Essential packages are part of every system (dpkg and apt assume them).
    for (const auto& name : pool.essential_names()) {
        if (excluded_names.count(name)) continue;
        Id id = pool_str2id(p, name.c_str(), 0);
        if (!id) continue;
        jobs.add(SOLVER_INSTALL | SOLVER_SOLVABLE_NAME, id, fmt::format("'{}', an Essential package", name));
        for (Id provider : providers(p, id))
            if (p->solvables[provider].name == id) requested.insert(provider);
    }
    // lock --update: everything stays as locked unless it is to be updated or must change for it.
    if (input.keep) {
        for (const auto& package : input.keep->packages) {
            if (input.update.count(package.name)) continue;
            if (auto id = find_exact(pool, package, false))
                jobs.add(SOLVER_FAVOR | SOLVER_SOLVABLE, *id, fmt::format("'{}' as locked", package.name));
        }
    }

    for (int round = 1;; ++round) {
        wrap::SolverPtr solver(solver_create(p));
        solver_set_flag(solver.get(), SOLVER_FLAG_IGNORE_RECOMMENDED, input.weak_deps ? 0 : 1);
        if (solver_solve(solver.get(), jobs.queue().get()) != 0)
            throw ResolveError("Failed to resolve the package set ({} problem{}):{}",
                               solver_problem_count(solver.get()), solver_problem_count(solver.get()) == 1 ? "" : "s",
                               problems_text(solver.get(), pool, jobs));
        wrap::TransactionPtr transaction(solver_create_transaction(solver.get()));
        wrap::Queue result;
        transaction_installedresult(transaction.get(), result.get());
        std::vector<Id> installed(result.ids().begin(), result.ids().end());
        // IMGBUILD_DEBUG_SOLVER=DIR: libsolv's testcase of each round, for `testsolv` (libsolv-tools).
        if (const char* debug = std::getenv("IMGBUILD_DEBUG_SOLVER"); debug && *debug) {
            std::string dir = fmt::format("{}/round-{}", debug, round);
            std::error_code ec;
            std::filesystem::create_directories(debug, ec);
            if (!testcase_write(solver.get(), dir.c_str(), TESTCASE_RESULT_TRANSACTION, nullptr, nullptr))
                log::warn("cannot write the solver testcase to {}", dir);
        }
        auto favours = pool.format() == "deb" && round < 6 ? apt_choices(pool, installed, requested, jobs)
                                                           : std::vector<std::pair<Id, Id>>{};
        if (favours.empty()) {
            std::sort(installed.begin(), installed.end());
            log::debug("solved in {} round{}: {} packages", round, round == 1 ? "" : "s", installed.size());
            return installed;
        }
        for (auto [how, what] : favours) {
            log::debug("as apt would: {} {}",
                       (how & SOLVER_JOBMASK) == SOLVER_FAVOR ? "prefer" : "take the first alternative",
                       pool_dep2str(p, what));
            jobs.add(how, what, "apt's choice among alternatives");
        }
    }
}

std::set<Id> bootstrap_set(const PackagePool& pool, const std::vector<Id>& installed) {
    Pool* p = pool.get();
    std::set<Id> chosen(installed.begin(), installed.end()), result;
    std::vector<Id> work;
    for (Id id : installed)
        if (pool.essential(pool.name(id))) work.push_back(id);
    while (!work.empty()) {
        Id id = work.back();
        work.pop_back();
        if (!result.insert(id).second) continue;
        wrap::Queue deps;
        solvable_lookup_deparray(p->solvables + id, SOLVABLE_REQUIRES, deps.get(), 0);
        for (Id dep : deps.ids()) {
            if (dep == SOLVABLE_PREREQMARKER) continue;
            for (Id provider : providers(p, dep))
                if (chosen.count(provider) && !result.count(provider)) work.push_back(provider);
        }
    }
    return result;
}

std::vector<Id> find_locked(const PackagePool& pool, const Lock& lock, const std::string& lock_file) {
    std::vector<Id> ids;
    std::vector<std::string> missing;
    for (const auto& package : lock.packages) {
        if (auto id = find_exact(pool, package, true))
            ids.push_back(*id);
        else
            missing.push_back(
                fmt::format("{} {} ({}) from repo '{}'", package.name, package.version, package.arch, package.repo));
    }
    if (!missing.empty())
        throw ResolveError("Failed to use the lock '{}': the repos no longer offer {} of its packages with the locked "
                           "version and checksum:\n  {}\n(run 'imgbuild lock' to lock the current versions)",
                           lock_file, missing.size(), fmt::join(missing, "\n  "));

    // The locked set must be complete: installing exactly it must need nothing else.
    Jobs jobs;
    for (Id id : ids)
        jobs.add(SOLVER_INSTALL | SOLVER_SOLVABLE, id, fmt::format("'{}' in {}", pool.name(id), lock_file));
    wrap::SolverPtr solver(solver_create(pool.get()));
    solver_set_flag(solver.get(), SOLVER_FLAG_IGNORE_RECOMMENDED, 1);
    if (solver_solve(solver.get(), jobs.queue().get()) != 0)
        throw ResolveError("Failed to use the lock '{}': its packages do not fit together:{}", lock_file,
                           problems_text(solver.get(), pool, jobs));
    wrap::TransactionPtr transaction(solver_create_transaction(solver.get()));
    wrap::Queue result;
    transaction_installedresult(transaction.get(), result.get());
    std::vector<std::string> extra;
    std::set<Id> locked(ids.begin(), ids.end());
    for (Id id : result.ids())
        if (!locked.count(id)) extra.push_back(pool.describe(id));
    if (!extra.empty())
        throw ResolveError("Failed to use the lock '{}': it is incomplete, its packages also need:\n  {}", lock_file,
                           fmt::join(extra, "\n  "));
    std::sort(ids.begin(), ids.end());
    return ids;
}

} // namespace imgbuild::resolve

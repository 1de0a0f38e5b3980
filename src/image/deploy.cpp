// The commit deployed into a sysroot directory through libostree's sysroot API, in a child process in
// a user namespace: there FIFREEZE fails with EPERM and ostree falls back to syncfs, so the build
// host's root filesystem is never frozen (docs/design.md §5). Every uid and gid maps to itself.

#include "deploy.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "imgbuild/core/fd.hpp"
#include "imgbuild/core/files.hpp"
#include "imgbuild/core/log.hpp"
#include "imgbuild/core/timer.hpp"
#include "imgbuild/image/image.hpp"
#include "wrap/glib.hpp"

namespace imgbuild::image {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using wrap::gcall;
using wrap::GObjectPtr;

void write_map(pid_t pid, const char* file) {
    std::string path = fmt::format("/proc/{}/{}", pid, file);
    Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    constexpr std::string_view identity = "0 0 4294967295\n";
    if (!fd || ::write(fd.get(), identity.data(), identity.size()) != static_cast<ssize_t>(identity.size()))
        throw SysError<ImageError>(errno, "write '{}'", path);
}

} // namespace

json DeploySpec::to_json() const {
    json result = {{"sysroot", sysroot.string()},
                   {"source-repo", source_repo.string()},
                   {"checksum", checksum},
                   {"ref", ref},
                   {"osname", osname},
                   {"kernel-args", kernel_args}};
    if (remote)
        result["remote"] = {{"name", remote->name}, {"url", remote->url}, {"ed25519-key", remote->ed25519_public_key}};
    return result;
}

DeploySpec DeploySpec::from_json(const json& json) {
    DeploySpec spec;
    spec.sysroot = json.at("sysroot").get<std::string>();
    spec.source_repo = json.at("source-repo").get<std::string>();
    spec.checksum = json.at("checksum").get<std::string>();
    spec.ref = json.at("ref").get<std::string>();
    spec.osname = json.at("osname").get<std::string>();
    spec.kernel_args = json.at("kernel-args").get<std::vector<std::string>>();
    if (json.contains("remote")) {
        const auto& remote = json.at("remote");
        spec.remote = Remote{remote.at("name"), remote.at("url"), remote.value("ed25519-key", "")};
    }
    return spec;
}

void deploy(const DeploySpec& spec) {
    fs::path spec_file = spec.sysroot.string() + ".deploy.json";
    write_file_atomic(spec_file, spec.to_json().dump(2));
    RemoveOnExit remove_spec{spec_file};

    // The child unshares, tells us, waits for its uid and gid maps, then execs the deploying command.
    Pipe ready = make_pipe<ImageError>();
    Pipe go = make_pipe<ImageError>();
    // The child logs as we do: -v for debug, -q when info is off.
    std::string verbosity = log::enabled(log::Level::trace)   ? "-vv"
                            : log::enabled(log::Level::debug) ? "-v"
                            : log::enabled(log::Level::info)  ? "--log-format=text"
                                                              : "-q";
    pid_t pid = ::fork();
    if (pid < 0) throw SysError<ImageError>(errno, "fork");
    if (pid == 0) {
        char byte = 0;
        if (::unshare(CLONE_NEWUSER) != 0) _exit(120);
        if (::write(ready.write.get(), &byte, 1) != 1) _exit(121);
        if (::read(go.read.get(), &byte, 1) != 1) _exit(122);
        const char* argv[] = {"imgbuild", verbosity.c_str(), "internal-deploy", spec_file.c_str(), nullptr};
        ::execv("/proc/self/exe", const_cast<char* const*>(argv));
        _exit(123);
    }
    ready.write.close();
    go.read.close();
    char byte = 0;
    bool unshared = ::read(ready.read.get(), &byte, 1) == 1;
    ready.read.close();
    std::string failure;
    if (unshared) {
        try {
            write_map(pid, "uid_map");
            write_map(pid, "gid_map");
            if (::write(go.write.get(), &byte, 1) != 1) failure = "cannot start the deploying process";
        } catch (const Error& e) {
            failure = e.what();
        }
    }
    go.write.close();
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!failure.empty()) throw ImageError("Failed to deploy {}: {}", spec.checksum, failure);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 120)
        throw ImageError("Failed to deploy {}: this kernel does not allow a user namespace here", spec.checksum);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        throw ImageError("Failed to deploy {} into '{}' (the deploying process {})", spec.checksum,
                         spec.sysroot.string(),
                         WIFEXITED(status) ? fmt::format("exited with status {}", WEXITSTATUS(status))
                                           : fmt::format("was killed by signal {}", WTERMSIG(status)));
}

namespace {

// The node's remote: where `ostree admin upgrade` pulls the next build from.
void add_remote(OstreeRepo* repo, const DeploySpec& spec) {
    if (!spec.remote) return;
    GVariantBuilder builder;
    g_variant_builder_init(&builder, G_VARIANT_TYPE("a{sv}"));
    g_variant_builder_add(&builder, "{s@v}", "gpg-verify", g_variant_new_variant(g_variant_new_boolean(FALSE)));
    if (!spec.remote->ed25519_public_key.empty()) {
        g_variant_builder_add(&builder, "{s@v}", "sign-verify", g_variant_new_variant(g_variant_new_string("ed25519")));
        g_variant_builder_add(&builder, "{s@v}", "verification-ed25519-key",
                              g_variant_new_variant(g_variant_new_string(spec.remote->ed25519_public_key.c_str())));
    }
    auto options = wrap::take(g_variant_builder_end(&builder));
    gcall(fmt::format("add the remote '{}'", spec.remote->name), [&](auto error) {
        return ostree_repo_remote_change(repo, nullptr, OSTREE_REPO_REMOTE_CHANGE_ADD_IF_NOT_EXISTS,
                                         spec.remote->name.c_str(), spec.remote->url.c_str(), options.get(), nullptr,
                                         error);
    });
}

void pull_commit(OstreeRepo* repo, const DeploySpec& spec) {
    ScopedTimer step("deploy: pull the commit into the sysroot");
    // From the build repository (bare, like the sysroot's, on the same filesystem) ostree links the
    // objects instead of copying them: nothing in the sysroot is written through, only read by
    // mke2fs.
    wrap::pull_local(repo, spec.source_repo, spec.checksum,
                     fmt::format("pull {} from '{}'", spec.checksum, spec.source_repo.string()));
}

} // namespace

void deploy_here(const DeploySpec& spec) {
    auto file = GObjectPtr<GFile>(g_file_new_for_path(spec.sysroot.c_str()));
    auto sysroot = GObjectPtr<OstreeSysroot>(ostree_sysroot_new(file.get()));
    gcall("initialize the sysroot",
          [&](auto error) { return ostree_sysroot_ensure_initialized(sysroot.get(), nullptr, error); });
    gcall("load the sysroot", [&](auto error) { return ostree_sysroot_load(sysroot.get(), nullptr, error); });
    gcall(fmt::format("initialize the os '{}'", spec.osname),
          [&](auto error) { return ostree_sysroot_init_osname(sysroot.get(), spec.osname.c_str(), nullptr, error); });
    OstreeRepo* repo_raw = nullptr;
    gcall("open the sysroot's repository",
          [&](auto error) { return ostree_sysroot_get_repo(sysroot.get(), &repo_raw, nullptr, error); });
    GObjectPtr<OstreeRepo> repo(repo_raw);

    add_remote(repo.get(), spec);
    pull_commit(repo.get(), spec);
    const char* remote_name = spec.remote ? spec.remote->name.c_str() : nullptr;
    gcall(fmt::format("set the ref {}", spec.ref), [&](auto error) {
        return ostree_repo_set_ref_immediate(repo.get(), remote_name, spec.ref.c_str(), spec.checksum.c_str(), nullptr,
                                             error);
    });

    std::string refspec = spec.remote ? spec.remote->name + ":" + spec.ref : spec.ref;
    wrap::CPtr<GKeyFile, g_key_file_unref> origin(
        ostree_sysroot_origin_new_from_refspec(sysroot.get(), refspec.c_str()));
    std::vector<char*> kargs;
    for (const auto& arg : spec.kernel_args) kargs.push_back(const_cast<char*>(arg.c_str()));
    kargs.push_back(nullptr);
    OstreeDeployment* deployment_raw = nullptr;
    {
        ScopedTimer step("deploy: check out the deployment");
        gcall(fmt::format("deploy {}", spec.checksum), [&](auto error) {
            return ostree_sysroot_deploy_tree(sysroot.get(), spec.osname.c_str(), spec.checksum.c_str(), origin.get(),
                                              nullptr, kargs.data(), &deployment_raw, nullptr, error);
        });
    }
    GObjectPtr<OstreeDeployment> deployment(deployment_raw);
    gcall("write the deployment and its boot entries", [&](auto error) {
        return ostree_sysroot_simple_write_deployment(sysroot.get(), spec.osname.c_str(), deployment.get(), nullptr,
                                                      OSTREE_SYSROOT_SIMPLE_WRITE_DEPLOYMENT_FLAGS_NONE, nullptr,
                                                      error);
    });
}

int internal_deploy(const fs::path& spec) {
    deploy_here(DeploySpec::from_json(json::parse(read_file(spec))));
    return 0;
}

} // namespace imgbuild::image

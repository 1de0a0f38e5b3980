// manifest.json: the text make_image writes reads back to the same struct and is written again byte
// for byte; a manifest of an older imgbuild (fewer keys) reads with empty values and the defaults.

#include "imgbuild/image/manifest.hpp"

#include <gtest/gtest.h>

namespace imgbuild::image {
namespace {

using json = nlohmann::json;

// As make_image writes it (dump(2), keys sorted), with every key it knows.
const std::string full = R"({
  "artifacts": {
    "qcow2": {
      "allocated": 1024,
      "compression": "zstd",
      "file": "node-1.qcow2",
      "format": "qcow2",
      "sha256": "aa",
      "size": 1000
    },
    "qcow2-zlib": {
      "allocated": 2048,
      "compression": "zlib",
      "file": "node-1.zlib.qcow2",
      "format": "qcow2",
      "sha256": "a2",
      "size": 1200
    },
    "raw": {
      "allocated": 4096,
      "file": "node-1.raw",
      "format": "raw",
      "sha256": "bb",
      "size": 4294967296
    }
  },
  "boot": [
    "bios",
    "uefi"
  ],
  "checks": {
    "modules-load": [
      "br_netfilter"
    ],
    "sysctl": {
      "net.core.somaxconn": 4096,
      "net.ipv4.tcp_rmem": "4096 87380 6291456"
    },
    "units": {
      "enable": [
        "containerd.service"
      ],
      "mask": []
    }
  },
  "commit": "cc",
  "disk": {
    "label-id": "dd",
    "partitions": [
      {
        "name": "bios",
        "sectors": 2048,
        "start": 2048,
        "uuid": "u1"
      },
      {
        "name": "esp",
        "sectors": 131072,
        "start": 4096,
        "uuid": "u2"
      },
      {
        "name": "root",
        "sectors": 8253407,
        "start": 135168,
        "uuid": "u3"
      }
    ],
    "root-uuid": "ru",
    "size": 4294967296
  },
  "inputs-digest": "sha256:ii",
  "kernel": "6.1.0-13-amd64",
  "kernel-args": [
    "root=UUID=ru",
    "rw"
  ],
  "lock-digest": "sha256:ll",
  "name": "node",
  "packages": 212,
  "platforms": {
    "ecs": {
      "artifact": "qcow2-zlib",
      "compression": "zlib",
      "file": "node-1.zlib.qcow2",
      "format": "qcow2",
      "import-page": "https://www.alibabacloud.com/help/en/ecs/user-guide/import-a-custom-image"
    },
    "qemu": {
      "artifact": "qcow2",
      "compression": "zstd",
      "file": "node-1.qcow2",
      "format": "qcow2"
    }
  },
  "recipe-digest": "sha256:rr",
  "ref": "imgbuild/node/x86_64",
  "remote": {
    "name": "origin",
    "url": "https://updates.example/repo"
  },
  "rootfs-size": 123456789,
  "sbom": {
    "file": "sbom.spdx.json",
    "sha256": "ss"
  },
  "sha256sums": "SHA256SUMS",
  "source-date-epoch": 1700000000,
  "timings": {
    "compose": 1.5,
    "image": 12.25,
    "image.deploy": 3.0
  },
  "version": "1"
}
)";

TEST(Manifest, RoundTripsTheTextMakeImageWrites) {
    auto manifest = json::parse(full).get<Manifest>();
    EXPECT_EQ(manifest.name, "node");
    EXPECT_EQ(manifest.commit, "cc");
    ASSERT_TRUE(manifest.disk);
    EXPECT_EQ(manifest.disk->partitions.at(2).sectors, 8253407u);
    ASSERT_TRUE(manifest.artifacts);
    EXPECT_EQ(manifest.artifacts->at("raw").file, "node-1.raw");
    EXPECT_EQ(manifest.artifacts->at("qcow2-zlib").compression, "zlib");
    ASSERT_TRUE(manifest.platforms);
    EXPECT_EQ(manifest.platforms->at("ecs").file, "node-1.zlib.qcow2");
    EXPECT_FALSE(manifest.platforms->at("qemu").import_page);
    EXPECT_EQ(manifest.sha256sums, "SHA256SUMS");
    ASSERT_TRUE(manifest.remote);
    EXPECT_FALSE(manifest.remote->ed25519_key);
    ASSERT_TRUE(manifest.checks);
    EXPECT_EQ(manifest.checks->units_enable, std::vector<std::string>{"containerd.service"});
    EXPECT_EQ(json(manifest).dump(2) + "\n", full);
    EXPECT_EQ(json(manifest).get<Manifest>(), manifest);
}

TEST(Manifest, TheBootTestsReportIsKept) {
    auto text = json::parse(full);
    text["test"] = {{"passed", true}};
    EXPECT_EQ(json(text.get<Manifest>()), text);
}

TEST(Manifest, AnOlderManifestReadsWithDefaults) {
    auto manifest = json::parse(R"({"commit":"cc","name":"node"})").get<Manifest>();
    EXPECT_EQ(manifest.commit, "cc");
    EXPECT_EQ(manifest.version, "");
    EXPECT_FALSE(manifest.checks);
    EXPECT_FALSE(manifest.artifacts);
    EXPECT_FALSE(manifest.platforms);
    EXPECT_FALSE(manifest.sha256sums);
    EXPECT_EQ(manifest.boot_or_default(), (std::vector<std::string>{"bios", "uefi"}));
    EXPECT_EQ(json::parse("[]").get<Manifest>(), Manifest{});
}

TEST(Manifest, AnOlderManifestsArtifactsKeepTheirText) {
    // Before the platforms' artifacts, an artifact had no format or compression: written back the same.
    auto text = json::parse(R"({"commit":"cc","artifacts":{"qcow2":{"file":"n.qcow2","size":1,"allocated":2,)"
                            R"("sha256":"aa"}}})");
    auto manifest = text.get<Manifest>();
    EXPECT_FALSE(manifest.artifacts->at("qcow2").format);
    EXPECT_FALSE(manifest.artifacts->at("qcow2").compression);
    EXPECT_EQ(json(manifest)["artifacts"], text["artifacts"]);
}

TEST(Manifest, AManifestsRemoteHasNoKey) {
    Manifest manifest;
    manifest.remote = RemoteSettings{"origin", "file:///srv/repo", "KEY"};
    EXPECT_EQ(json(manifest).at("remote"), json({{"name", "origin"}, {"url", "file:///srv/repo"}}));
}

} // namespace
} // namespace imgbuild::image

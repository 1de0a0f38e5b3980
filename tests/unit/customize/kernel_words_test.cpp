// The words of a kernel and the sysctl names checked against them: a name merged into the end of a
// longer string still counts, segments made at run time are not checked, and a bzImage's payload is
// found by its setup header and decompressed.

#include <gtest/gtest.h>

#include "imgbuild/core/files.hpp"
#include "imgbuild/core/process.hpp"
#include "imgbuild/customize/customize.hpp"
#include "support/temp_dir.hpp"

namespace imgbuild::customize {
namespace {

using namespace std::string_literals;

// What a kernel's .rodata looks like: names between NULs, "rp_filter" merged into "arp_filter".
const std::string rodata = "\x01\x02somaxconn\0arp_filter\0ipv4\0conf\0core\0net\0\x7f\xe3tcp_rmem\0"
                           "bridge-nf-call-iptables\0bridge\0vm\0max_map_count\0fs\0sched_domain\0kernel\0"s;

KernelWords words_of(const std::string& bytes) {
    std::vector<std::string> words;
    collect_words(bytes, words);
    return KernelWords(std::move(words));
}

TEST(KernelWords, ANameIsKnownWhenAWordEndsWithIt) {
    auto words = words_of(rodata);
    EXPECT_TRUE(words.ends_a_word("somaxconn"));
    EXPECT_TRUE(words.ends_a_word("rp_filter")) << "merged into arp_filter by the linker";
    EXPECT_TRUE(words.ends_a_word("tcp_rmem")) << "after bytes that are no name characters";
    EXPECT_TRUE(words.ends_a_word("bridge-nf-call-iptables"));
    EXPECT_FALSE(words.ends_a_word("somaxcon")) << "a prefix is not the end of a word";
    EXPECT_FALSE(words.ends_a_word("arp_filt"));
}

TEST(KernelWords, SysctlSegmentsAreCheckedExceptThoseMadeAtRunTime) {
    auto words = words_of(rodata);
    EXPECT_EQ(unknown_sysctl_segment("net.core.somaxconn", words), std::nullopt);
    EXPECT_EQ(unknown_sysctl_segment("net.core.somaxcon", words), "somaxcon");
    EXPECT_EQ(unknown_sysctl_segment("net.cor.somaxconn", words), "cor");
    EXPECT_EQ(unknown_sysctl_segment("-net/core/somaxconn", words), std::nullopt) << "systemd-sysctl's forms";
    // Interface names, numbers and globs are the node's, not the kernel's.
    EXPECT_EQ(unknown_sysctl_segment("net.ipv4.conf.eth0.rp_filter", words), std::nullopt);
    EXPECT_EQ(unknown_sysctl_segment("net.ipv4.conf.*.rp_filter", words), std::nullopt);
    EXPECT_EQ(unknown_sysctl_segment("net.ipv4.conf.eth0.rp_filtr", words), "rp_filtr");
    EXPECT_EQ(unknown_sysctl_segment("fs.binfmt_misc.anything", words), std::nullopt);
    EXPECT_EQ(unknown_sysctl_segment("kernel.sched_domain.cpu0.domain1.flags", words), std::nullopt);
}

class Bzimage : public test::TempDirTest {};

TEST_F(Bzimage, ThePayloadIsFoundAndDecompressed) {
    if (find_program("xz").empty()) GTEST_SKIP() << "skipped: no xz (xz-utils) to compress a payload";
    std::string vmlinux = "\x7f"
                          "ELF" +
                          rodata;
    auto plain = dir.write("vmlinux", vmlinux);
    auto xz = run_process(ProcessOptions{{"xz", "-c", "--check=crc32", plain.string()}});
    ASSERT_TRUE(xz.ok());
    // A setup header of boot protocol 2.15: one setup sector, then the payload after 40 bytes.
    std::string image(2 * 512, '\0');
    image[0x1f1] = 1;
    image.replace(0x202, 4, "HdrS");
    image[0x206] = 0x0f;
    image[0x207] = 0x02;
    auto put32 = [&](std::size_t at, std::uint32_t value) {
        for (int i = 0; i < 4; ++i) image[at + static_cast<std::size_t>(i)] = static_cast<char>(value >> (8 * i));
    };
    put32(0x248, 40);
    put32(0x24c, static_cast<std::uint32_t>(xz.output.size()));
    image += std::string(40, '\xcc') + xz.output + "trailer";
    auto decompressed = decompress_bzimage(image);
    ASSERT_TRUE(decompressed);
    EXPECT_EQ(*decompressed, vmlinux);

    EXPECT_EQ(decompress_bzimage("not a kernel"), std::nullopt);
    image.replace(0x202, 4, "HdrX");
    EXPECT_EQ(decompress_bzimage(image), std::nullopt);
}

} // namespace
} // namespace imgbuild::customize

// Unit tests for lib/formats/ivrs: the IVRS parser over fake physical memory, and its discovery through the XSDT.
#include "lib/formats/ivrs.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "acpi_table_mem.h"
#include "status_expect.h"

namespace evmm {
namespace {

using FakeMem = test::AcpiTableMem;
using test::append;
using test::fix_checksum;

using Bytes = std::vector<u8>;

// A 4-byte device entry.
Bytes dev4(u8 type, u16 id, u8 dte = 0) { return Bytes{type, u8(id), u8(id >> 8), dte}; }
// An 8-byte alias entry: the device id and its alias.
Bytes alias(u8 type, u16 id, u16 source) {
    return Bytes{type, u8(id), u8(id >> 8), 0, 0, u8(source), u8(source >> 8), 0};
}
// An 8-byte special (I/O APIC / HPET) entry.
Bytes special(u16 id) { return Bytes{IVHD_DEV_SPECIAL, 0, 0, 0, 0xa0, u8(id), u8(id >> 8), 1}; }

Bytes ivhd(u8 type, u64 base, std::vector<Bytes> entries, u16 segment = 0, u64 efr = 0) {
    Bytes body;
    for (auto& e : entries) body.insert(body.end(), e.begin(), e.end());
    const size_t fixed = type == IVRS_TYPE_IVHD_10 ? sizeof(IvrsIvhd) : sizeof(IvrsIvhdEfr);
    IvrsIvhdEfr h{};
    h.ivhd.header = IvrsBlockHeader{type, 0xd1, static_cast<u16>(fixed + body.size())};
    h.ivhd.device_id = 0x10;
    h.ivhd.capability_offset = 0x40;
    h.ivhd.base_address = base;
    h.ivhd.pci_segment = segment;
    h.efr_image = efr;
    Bytes v(reinterpret_cast<const u8*>(&h), reinterpret_cast<const u8*>(&h) + fixed);
    v.insert(v.end(), body.begin(), body.end());
    return v;
}

Bytes ivmd(u8 type, u64 base, u64 length) {
    Bytes v{type, 0x8, 32, 0, 0x18, 0, 0, 0};
    v.resize(16, 0);
    append(v, base);
    append(v, length);
    return v;
}

Bytes ivrs(std::vector<Bytes> blocks) {
    AcpiIvrs t{};
    std::memcpy(t.header.signature, "IVRS", 4);
    t.iv_info = 0x2800;
    Bytes v;
    append(v, t);
    for (auto& b : blocks) v.insert(v.end(), b.begin(), b.end());
    reinterpret_cast<AcpiSdtHeader*>(v.data())->length = static_cast<u32>(v.size());
    fix_checksum(v);
    return v;
}

constexpr u64 IVRS_PA = 0x7000;

Status parse(Bytes table, IvrsInfo& info) {
    FakeMem mem;
    mem.put(IVRS_PA, std::move(table));
    return ivrs_parse(mem, IVRS_PA, info);
}

TEST(Ivrs, QemuLikeTable) {
    // As QEMU 7.2's amd-iommu: one IVHD type 10h at 0xfed80000 covering bus 0 by a range, and an I/O APIC.
    IvrsInfo info{};
    ASSERT_OK(parse(ivrs({ivhd(IVRS_TYPE_IVHD_10, 0xfed80000,
                               {dev4(IVHD_DEV_RANGE_START, 0x0000), dev4(IVHD_DEV_RANGE_END, 0x00ff), special(0xa0)})}),
                    info));
    EXPECT_EQ(info.table_pa, IVRS_PA);
    EXPECT_EQ(info.iv_info, 0x2800u);
    ASSERT_EQ(info.iommu_count, 1u);
    const IvrsIommu& m = info.iommus[0];
    EXPECT_EQ(m.type, IVRS_TYPE_IVHD_10);
    EXPECT_EQ(m.base_address, 0xfed80000u);
    EXPECT_EQ(m.device_id, 0x10);
    EXPECT_EQ(m.capability_offset, 0x40);
    EXPECT_EQ(m.flags, 0xd1);
    EXPECT_EQ(m.pci_segment, 0);
    EXPECT_EQ(m.efr_image, 0u);
    EXPECT_FALSE(m.covers_all);
    EXPECT_EQ(m.max_device_id, 0xffu);
    EXPECT_EQ(m.device_entries, 3u);
}

TEST(Ivrs, NewestIvhdTypeWinsAndEfrImage) {
    IvrsInfo info{};
    ASSERT_OK(parse(ivrs({ivhd(IVRS_TYPE_IVHD_10, 0xfed80000, {dev4(IVHD_DEV_SELECT, 0x18)}),
                          ivhd(IVRS_TYPE_IVHD_11, 0xfed80000, {dev4(IVHD_DEV_SELECT, 0x18)}, 0, 0x29d3)}),
                    info));
    ASSERT_EQ(info.iommu_count, 1u);
    EXPECT_EQ(info.iommus[0].type, IVRS_TYPE_IVHD_11);
    EXPECT_EQ(info.iommus[0].efr_image, 0x29d3u);
    EXPECT_EQ(info.iommus[0].max_device_id, 0x18u);
    EXPECT_EQ(info.other_blocks, 1u); // the 10h block
    ASSERT_OK(parse(ivrs({ivhd(IVRS_TYPE_IVHD_40, 0xfed80000, {dev4(IVHD_DEV_SELECT, 0x18)}),
                          ivhd(IVRS_TYPE_IVHD_11, 0xfed80000, {dev4(IVHD_DEV_SELECT, 0x18)})}),
                    info));
    ASSERT_EQ(info.iommu_count, 1u);
    EXPECT_EQ(info.iommus[0].type, IVRS_TYPE_IVHD_40);
}

TEST(Ivrs, DeviceEntriesSetTheHighestId) {
    IvrsInfo info{};
    // Select, an alias whose alias is the higher id, padding, an ACPI HID entry with a 3-byte UID.
    Bytes hid{IVHD_DEV_ACPI_HID, 0x05, 0x00, 0};
    hid.resize(IVHD_DEV_ACPI_HID_FIXED - 1, 'A');
    hid.push_back(3);
    hid.insert(hid.end(), {'U', 'I', 'D'});
    ASSERT_OK(parse(ivrs({ivhd(IVRS_TYPE_IVHD_11, 0xfed80000,
                               {dev4(IVHD_DEV_SELECT, 0x0100), alias(IVHD_DEV_ALIAS_SELECT, 0x0200, 0x0300),
                                dev4(IVHD_DEV_PAD4, 0), hid})}),
                    info));
    EXPECT_EQ(info.iommus[0].max_device_id, 0x300u);
    EXPECT_EQ(info.iommus[0].device_entries, 4u);
    // Select-all: every id.
    ASSERT_OK(parse(ivrs({ivhd(IVRS_TYPE_IVHD_10, 0xfed80000, {dev4(IVHD_DEV_ALL, 0)})}), info));
    EXPECT_TRUE(info.iommus[0].covers_all);
    EXPECT_EQ(info.iommus[0].max_device_id, 0xffffu);
    // An alias range: the range's end and the alias both count.
    ASSERT_OK(parse(ivrs({ivhd(IVRS_TYPE_IVHD_10, 0xfed80000,
                               {alias(IVHD_DEV_ALIAS_RANGE_START, 0x0100, 0x0400), dev4(IVHD_DEV_RANGE_END, 0x01ff)})}),
                    info));
    EXPECT_EQ(info.iommus[0].max_device_id, 0x400u);
}

TEST(Ivrs, Ivmd) {
    IvrsInfo info{};
    ASSERT_OK(parse(ivrs({ivhd(IVRS_TYPE_IVHD_10, 0xfed80000, {dev4(IVHD_DEV_SELECT, 0x18)}),
                          ivmd(IVRS_TYPE_IVMD_SELECT, 0xdf000000, 0x100000)}),
                    info));
    ASSERT_EQ(info.ivmd_count, 1u);
    EXPECT_EQ(info.ivmds[0].type, IVRS_TYPE_IVMD_SELECT);
    EXPECT_EQ(info.ivmds[0].flags, 0x8);
    EXPECT_EQ(info.ivmds[0].device_id, 0x18);
    EXPECT_EQ(info.ivmds[0].base, 0xdf000000u);
    EXPECT_EQ(info.ivmds[0].length, 0x100000u);
}

TEST(Ivrs, Refusals) {
    IvrsInfo info{};
    // Header, signature, length, checksum.
    {
        FakeMem mem;
        EXPECT_ERR(ivrs_parse(mem, IVRS_PA, info), "header is not readable", "IVRS");
    }
    Bytes t = ivrs({});
    t[0] = 'X';
    EXPECT_ERR(parse(t, info), "Signature", "IVRS");
    t = ivrs({});
    t[20] ^= 1;
    EXPECT_ERR(parse(t, info), "Checksum", "IVRS");
    t = ivrs({});
    reinterpret_cast<AcpiSdtHeader*>(t.data())->length = 40;
    fix_checksum(t);
    EXPECT_ERR(parse(t, info), "48-byte", "IVRS");
    // Blocks.
    Bytes shortblock{IVRS_TYPE_IVHD_10, 0, 2, 0};
    EXPECT_ERR(parse(ivrs({shortblock}), info), "Length is below 4", "IVRS");
    Bytes past{IVRS_TYPE_IVHD_10, 0, 200, 0};
    EXPECT_ERR(parse(ivrs({past}), info), "runs past the table", "IVRS");
    Bytes tiny{IVRS_TYPE_IVHD_11, 0, 24, 0};
    tiny.resize(24, 0);
    EXPECT_ERR(parse(ivrs({tiny}), info), "shorter than its fixed part", "IVRS");
    EXPECT_ERR(parse(ivrs({ivhd(IVRS_TYPE_IVHD_10, 0, {})}), info), "not 16 KiB aligned", "IVRS");
    EXPECT_ERR(parse(ivrs({ivhd(IVRS_TYPE_IVHD_10, 0xfed81000, {})}), info), "not 16 KiB aligned", "IVRS");
    Bytes shortivmd{IVRS_TYPE_IVMD_ALL, 0, 8, 0, 0, 0, 0, 0};
    EXPECT_ERR(parse(ivrs({shortivmd}), info), "shorter than 32", "IVRS");
    // Device entries.
    Bytes cut = ivhd(IVRS_TYPE_IVHD_10, 0xfed80000, {alias(IVHD_DEV_ALIAS_SELECT, 1, 2)});
    cut.resize(cut.size() - 4);
    reinterpret_cast<IvrsBlockHeader*>(cut.data())->length = static_cast<u16>(cut.size());
    EXPECT_ERR(parse(ivrs({cut}), info), "device entry runs past", "IVRS");
    EXPECT_ERR(parse(ivrs({ivhd(IVRS_TYPE_IVHD_10, 0xfed80000, {dev4(IVHD_DEV_RANGE_END, 5)})}), info),
               "range end without a start", "IVRS");
    EXPECT_ERR(parse(ivrs({ivhd(IVRS_TYPE_IVHD_10, 0xfed80000, {dev4(IVHD_DEV_RANGE_START, 5)})}), info),
               "range start without its end", "IVRS");
    EXPECT_ERR(
        parse(
            ivrs({ivhd(IVRS_TYPE_IVHD_10, 0xfed80000, {dev4(IVHD_DEV_RANGE_START, 5), dev4(IVHD_DEV_RANGE_START, 6)})}),
            info),
        "inside another range", "IVRS");
    EXPECT_ERR(
        parse(ivrs({ivhd(IVRS_TYPE_IVHD_10, 0xfed80000, {dev4(IVHD_DEV_RANGE_START, 5), dev4(IVHD_DEV_RANGE_END, 4)})}),
              info),
        "ends below its start", "IVRS");
    // Too many IOMMUs.
    std::vector<Bytes> many;
    for (u32 i = 0; i <= IVRS_MAX_IOMMUS; ++i)
        many.push_back(ivhd(IVRS_TYPE_IVHD_10, 0xfed80000 + i * 0x4000, {dev4(IVHD_DEV_SELECT, 0x18)}));
    EXPECT_ERR(parse(ivrs(many), info), "more IOMMUs", "IVRS");
}

TEST(Ivrs, FindThroughXsdt) {
    AcpiRsdp r{};
    std::memcpy(r.signature, "RSD PTR ", 8);
    r.revision = ACPI_RSDP_REVISION_2;
    r.length = ACPI_RSDP_V2_SIZE;
    r.xsdt_address = 0x5000;
    Bytes rsdp;
    append(rsdp, r);
    auto sum = [&](size_t off, size_t n) {
        rsdp[off] = 0;
        u8 s = 0;
        for (size_t i = 0; i < n; ++i) s = static_cast<u8>(s + rsdp[i]);
        rsdp[off] = static_cast<u8>(-s);
    };
    sum(offsetof(AcpiRsdp, checksum), ACPI_RSDP_V1_SIZE);
    sum(offsetof(AcpiRsdp, extended_checksum), ACPI_RSDP_V2_SIZE);
    auto xsdt = [](std::vector<u64> entries) {
        AcpiSdtHeader h{};
        std::memcpy(h.signature, "XSDT", 4);
        Bytes v;
        append(v, h);
        for (u64 e : entries) append(v, e);
        reinterpret_cast<AcpiSdtHeader*>(v.data())->length = static_cast<u32>(v.size());
        fix_checksum(v);
        return v;
    };
    IvrsInfo info{};
    {
        FakeMem m;
        m.put(0x5000, xsdt({}));
        const Status s = ivrs_find_and_parse(m, rsdp.data(), rsdp.size(), info);
        EXPECT_TRUE(acpi_table_not_found(s));
    }
    FakeMem mem;
    mem.put(0x5000, xsdt({IVRS_PA}));
    mem.put(IVRS_PA, ivrs({ivhd(IVRS_TYPE_IVHD_10, 0xfed80000, {dev4(IVHD_DEV_SELECT, 0x18)})}));
    ASSERT_OK(ivrs_find_and_parse(mem, rsdp.data(), rsdp.size(), info));
    EXPECT_EQ(info.iommu_count, 1u);
}

} // namespace
} // namespace evmm

// Unit tests for lib/formats/dmar: the DMAR parser over fake physical memory, and its discovery through the XSDT.
#include "lib/formats/dmar.h"

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

std::vector<u8> scope(u8 type, u8 bus, std::vector<std::pair<u8, u8>> path, u8 enum_id = 0) {
    std::vector<u8> v;
    DmarDeviceScopeHeader h{type, static_cast<u8>(6 + 2 * path.size()), 0, enum_id, bus};
    append(v, h);
    for (auto [d, f] : path) {
        v.push_back(d);
        v.push_back(f);
    }
    return v;
}

std::vector<u8> drhd(u64 base, u8 flags, u8 size, std::vector<std::vector<u8>> scopes = {}) {
    std::vector<u8> body;
    for (auto& s : scopes) body.insert(body.end(), s.begin(), s.end());
    DmarDrhd d{{DMAR_TYPE_DRHD, static_cast<u16>(sizeof(DmarDrhd) + body.size())}, flags, size, 0, base};
    std::vector<u8> v;
    append(v, d);
    v.insert(v.end(), body.begin(), body.end());
    return v;
}

std::vector<u8> rmrr(u64 base, u64 limit, std::vector<std::vector<u8>> scopes = {}) {
    std::vector<u8> body;
    for (auto& s : scopes) body.insert(body.end(), s.begin(), s.end());
    DmarRmrr r{{DMAR_TYPE_RMRR, static_cast<u16>(sizeof(DmarRmrr) + body.size())}, 0, 0, base, limit};
    std::vector<u8> v;
    append(v, r);
    v.insert(v.end(), body.begin(), body.end());
    return v;
}

std::vector<u8> dmar(u8 haw, std::vector<std::vector<u8>> structs) {
    AcpiDmar t{};
    std::memcpy(t.header.signature, "DMAR", 4);
    t.header.revision = 1;
    t.host_address_width = haw;
    t.flags = DMAR_FLAG_INTR_REMAP;
    std::vector<u8> v;
    append(v, t);
    for (auto& s : structs) v.insert(v.end(), s.begin(), s.end());
    reinterpret_cast<AcpiSdtHeader*>(v.data())->length = static_cast<u32>(v.size());
    fix_checksum(v);
    return v;
}

constexpr u64 DMAR_PA = 0x7000;

TEST(Dmar, ParsesQemuLikeTable) {
    FakeMem mem;
    // QEMU q35 + intel-iommu: one INCLUDE_PCI_ALL unit at 0xfed90000 with an I/O APIC scope.
    mem.put(
        DMAR_PA,
        dmar(47, {drhd(0xfed90000, DRHD_FLAG_INCLUDE_PCI_ALL, 0, {scope(DMAR_SCOPE_IOAPIC, 0xf0, {{0x1f, 0}}, 0)})}));
    DmarInfo info{};
    ASSERT_OK(dmar_parse(mem, DMAR_PA, info));
    EXPECT_EQ(info.table_pa, DMAR_PA);
    EXPECT_EQ(info.host_address_width, 48);
    EXPECT_EQ(info.flags, DMAR_FLAG_INTR_REMAP);
    ASSERT_EQ(info.unit_count, 1u);
    EXPECT_EQ(info.units[0].register_base, 0xfed90000u);
    EXPECT_EQ(info.units[0].register_size, PAGE_SIZE);
    EXPECT_TRUE(info.units[0].include_pci_all);
    ASSERT_EQ(info.units[0].scope_count, 1u);
    EXPECT_EQ(info.units[0].scopes[0].type, DMAR_SCOPE_IOAPIC);
    EXPECT_EQ(info.units[0].scopes[0].start_bus, 0xf0);
    ASSERT_EQ(info.units[0].scopes[0].path_len, 1);
    EXPECT_EQ(info.units[0].scopes[0].path[0].device, 0x1f);
    EXPECT_EQ(info.rmrr_count, 0u);
}

TEST(Dmar, UnitsRmrrsAndOtherStructures) {
    FakeMem mem;
    std::vector<u8> atsr = {2, 0, 8, 0, 0, 0, 0, 0}; // ATSR: skipped
    mem.put(DMAR_PA,
            dmar(38, {drhd(0xfed90000, 0, 1, {scope(DMAR_SCOPE_PCI_ENDPOINT, 0, {{2, 0}})}),
                      drhd(0xfed91000, DRHD_FLAG_INCLUDE_PCI_ALL, 0),
                      rmrr(0x3e000000, 0x3e0fffff, {scope(DMAR_SCOPE_PCI_ENDPOINT, 0, {{0x14, 0}, {0, 1}})}), atsr}));
    DmarInfo info{};
    ASSERT_OK(dmar_parse(mem, DMAR_PA, info));
    EXPECT_EQ(info.host_address_width, 39);
    ASSERT_EQ(info.unit_count, 2u);
    EXPECT_FALSE(info.units[0].include_pci_all);
    EXPECT_EQ(info.units[0].register_size, 2 * PAGE_SIZE);
    EXPECT_EQ(info.units[0].scopes[0].path[0].device, 2);
    EXPECT_TRUE(info.units[1].include_pci_all);
    EXPECT_EQ(info.units[1].scope_count, 0u);
    ASSERT_EQ(info.rmrr_count, 1u);
    EXPECT_EQ(info.rmrrs[0].base, 0x3e000000u);
    EXPECT_EQ(info.rmrrs[0].end, 0x3e100000u);
    ASSERT_EQ(info.rmrrs[0].scope_count, 1u);
    EXPECT_EQ(info.rmrrs[0].scopes[0].path_len, 2);
    EXPECT_EQ(info.rmrrs[0].scopes[0].path[1].function, 1);
    EXPECT_EQ(info.other_structures, 1u);
}

TEST(Dmar, RejectsBrokenTables) {
    DmarInfo info{};
    {
        FakeMem mem;
        auto t = dmar(47, {drhd(0xfed90000, 1, 0)});
        t[40] ^= 1; // checksum broken
        mem.put(DMAR_PA, t);
        EXPECT_ERR(dmar_parse(mem, DMAR_PA, info), "Checksum", "DMAR");
    }
    {
        FakeMem mem;
        auto t = dmar(47, {drhd(0xfed90000, 1, 0)});
        std::memcpy(t.data(), "DMAX", 4);
        fix_checksum(t);
        mem.put(DMAR_PA, t);
        EXPECT_ERR(dmar_parse(mem, DMAR_PA, info), "Signature", "DMAR");
    }
    {
        FakeMem mem;
        auto t = dmar(47, {drhd(0xfed90000, 1, 0)});
        t[48 + 2] = 40; // DRHD Length past the table
        fix_checksum(t);
        mem.put(DMAR_PA, t);
        EXPECT_ERR(dmar_parse(mem, DMAR_PA, info), "runs past the table", "DMAR");
    }
    {
        FakeMem mem;
        auto t = dmar(47, {drhd(0xfed90000, 1, 0)});
        t[48 + 2] = 2; // Length below the header
        fix_checksum(t);
        mem.put(DMAR_PA, t);
        EXPECT_ERR(dmar_parse(mem, DMAR_PA, info), "Length is below 4", "DMAR");
    }
    {
        FakeMem mem;
        mem.put(DMAR_PA, dmar(47, {drhd(0xfed90800, 1, 0)}));
        EXPECT_ERR(dmar_parse(mem, DMAR_PA, info), "not 4 KiB aligned", "DMAR");
    }
    {
        FakeMem mem;
        mem.put(DMAR_PA, dmar(47, {rmrr(0x1000, 0x1ffe)}));
        EXPECT_ERR(dmar_parse(mem, DMAR_PA, info), "RMRR limit", "DMAR");
    }
    {
        FakeMem mem;
        auto s = scope(DMAR_SCOPE_PCI_ENDPOINT, 0, {{1, 0}});
        s[1] = 7; // odd path length
        s.push_back(0);
        mem.put(DMAR_PA, dmar(47, {drhd(0xfed90000, 0, 0, {s})}));
        EXPECT_ERR(dmar_parse(mem, DMAR_PA, info), "odd length", "DMAR");
    }
    {
        FakeMem mem;
        auto s = scope(DMAR_SCOPE_PCI_ENDPOINT, 0, {{1, 0}});
        s[1] = 12; // scope past its DRHD
        mem.put(DMAR_PA, dmar(47, {drhd(0xfed90000, 0, 0, {s})}));
        EXPECT_ERR(dmar_parse(mem, DMAR_PA, info), "runs past its structure", "DMAR");
    }
    {
        FakeMem mem;
        std::vector<std::vector<u8>> many;
        for (u32 i = 0; i <= DMAR_MAX_UNITS; ++i) many.push_back(drhd(0xfed00000 + i * PAGE_SIZE, 0, 0));
        mem.put(DMAR_PA, dmar(47, many));
        EXPECT_ERR(dmar_parse(mem, DMAR_PA, info), "more DRHD units", "DMAR");
    }
    {
        FakeMem mem;
        auto t = dmar(47, {drhd(0xfed90000, 1, 0)});
        t.resize(60); // table shorter than its Length
        mem.put(DMAR_PA, t);
        EXPECT_ERR(dmar_parse(mem, DMAR_PA, info), "not readable", "DMAR");
    }
    {
        FakeMem mem;
        EXPECT_ERR(dmar_parse(mem, DMAR_PA, info), "not readable", "DMAR");
    }
}

TEST(Dmar, FoundThroughXsdtOrReportedMissing) {
    FakeMem mem;
    AcpiRsdp r{};
    std::memcpy(r.signature, "RSD PTR ", 8);
    r.revision = ACPI_RSDP_REVISION_2;
    r.length = ACPI_RSDP_V2_SIZE;
    r.xsdt_address = 0x5000;
    std::vector<u8> rsdp;
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
        std::vector<u8> v;
        append(v, h);
        for (u64 e : entries) append(v, e);
        reinterpret_cast<AcpiSdtHeader*>(v.data())->length = static_cast<u32>(v.size());
        fix_checksum(v);
        return v;
    };
    DmarInfo info{};
    {
        FakeMem m;
        m.put(0x5000, xsdt({}));
        const Status s = dmar_find_and_parse(m, rsdp.data(), rsdp.size(), info);
        EXPECT_FALSE(s.ok());
        EXPECT_TRUE(acpi_table_not_found(s));
    }
    mem.put(0x5000, xsdt({DMAR_PA}));
    mem.put(DMAR_PA, dmar(47, {drhd(0xfed90000, DRHD_FLAG_INCLUDE_PCI_ALL, 0)}));
    ASSERT_OK(dmar_find_and_parse(mem, rsdp.data(), rsdp.size(), info));
    EXPECT_EQ(info.unit_count, 1u);
}

TEST(Dmar, SourceIds) {
    EXPECT_EQ(pci_source_id(0, 3, 0), 0x18);
    EXPECT_EQ(pci_source_id(0x12, 0x1f, 7), 0x12ff);
    EXPECT_EQ(source_id_bus(0x12ff), 0x12);
    EXPECT_EQ(source_id_dev(0x12ff), 0x1f);
    EXPECT_EQ(source_id_fn(0x12fa), 2);
}

} // namespace
} // namespace evmm

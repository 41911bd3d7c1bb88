// Unit tests for loader/acpi: RSDP validation and search, RSDT/XSDT walk, MADT parsing, over fake physical memory.
#include "lib/formats/acpi.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace evmm {
namespace {

// Physical memory made of buffers placed at chosen physical addresses. map() succeeds only when the whole range
// lies inside one buffer, so a read past what a test provides is caught (and ASan guards the buffers).
class FakePhysMem final : public PhysMem {
public:
    std::vector<u8>& add(u64 pa, std::vector<u8> bytes) {
        regions_.push_back(Region{pa, std::move(bytes)});
        return regions_.back().bytes;
    }
    void put(u64 pa, const std::vector<u8>& bytes) { add(pa, bytes); }

    const void* map(u64 pa, size_t len) const override {
        for (const Region& r : regions_) {
            if (pa >= r.pa && len <= r.bytes.size() && pa - r.pa <= r.bytes.size() - len)
                return r.bytes.data() + (pa - r.pa);
        }
        return nullptr;
    }
    // Write into an existing region (for scribbling over tables after they were placed).
    u8* at(u64 pa) {
        for (Region& r : regions_)
            if (pa >= r.pa && pa < r.pa + r.bytes.size()) return r.bytes.data() + (pa - r.pa);
        return nullptr;
    }

private:
    struct Region {
        u64 pa;
        std::vector<u8> bytes;
    };
    std::vector<Region> regions_; // never resized after a map() pointer is handed out in a test
};

template <typename T>
void append(std::vector<u8>& v, const T& x) {
    const u8* p = reinterpret_cast<const u8*>(&x);
    v.insert(v.end(), p, p + sizeof x);
}

void set_checksum(std::vector<u8>& v, size_t checksum_off, size_t len) {
    v[checksum_off] = 0;
    u8 sum = 0;
    for (size_t i = 0; i < len; ++i) sum = static_cast<u8>(sum + v[i]);
    v[checksum_off] = static_cast<u8>(-sum);
}

std::vector<u8> make_rsdp_v1(u32 rsdt) {
    AcpiRsdp r{};
    std::memcpy(r.signature, "RSD PTR ", 8);
    std::memcpy(r.oem_id, "EVMMT ", 6);
    r.revision = 0;
    r.rsdt_address = rsdt;
    std::vector<u8> v;
    append(v, r);
    v.resize(ACPI_RSDP_V1_SIZE);
    set_checksum(v, offsetof(AcpiRsdp, checksum), ACPI_RSDP_V1_SIZE);
    return v;
}

std::vector<u8> make_rsdp_v2(u32 rsdt, u64 xsdt) {
    AcpiRsdp r{};
    std::memcpy(r.signature, "RSD PTR ", 8);
    std::memcpy(r.oem_id, "EVMMT ", 6);
    r.revision = ACPI_RSDP_REVISION_2;
    r.rsdt_address = rsdt;
    r.length = ACPI_RSDP_V2_SIZE;
    r.xsdt_address = xsdt;
    std::vector<u8> v;
    append(v, r);
    set_checksum(v, offsetof(AcpiRsdp, checksum), ACPI_RSDP_V1_SIZE);
    set_checksum(v, offsetof(AcpiRsdp, extended_checksum), ACPI_RSDP_V2_SIZE);
    return v;
}

// A table: header with `sig`, then `body`; Length and Checksum filled in.
std::vector<u8> make_sdt(const char* sig, const std::vector<u8>& body) {
    AcpiSdtHeader h{};
    std::memcpy(h.signature, sig, 4);
    h.length = static_cast<u32>(sizeof h + body.size());
    h.revision = 1;
    std::memcpy(h.oem_id, "EVMMT ", 6);
    std::vector<u8> v;
    append(v, h);
    v.insert(v.end(), body.begin(), body.end());
    set_checksum(v, offsetof(AcpiSdtHeader, checksum), v.size());
    return v;
}

std::vector<u8> make_rsdt(const std::vector<u32>& entries) {
    std::vector<u8> body;
    for (u32 e : entries) append(body, e);
    return make_sdt("RSDT", body);
}

std::vector<u8> make_xsdt(const std::vector<u64>& entries) {
    std::vector<u8> body;
    for (u64 e : entries) append(body, e);
    return make_sdt("XSDT", body);
}

// MADT body builder.
struct MadtBuilder {
    std::vector<u8> body;
    explicit MadtBuilder(u32 lapic = 0xFEE00000) {
        append(body, lapic);
        append(body, u32{1}); // PCAT_COMPAT
    }
    MadtBuilder& lapic(u8 uid, u8 id, u32 flags) {
        AcpiMadtLocalApic e{};
        e.header = {ACPI_MADT_TYPE_LOCAL_APIC, sizeof e};
        e.acpi_processor_uid = uid;
        e.apic_id = id;
        e.flags = flags;
        append(body, e);
        return *this;
    }
    MadtBuilder& x2apic(u32 uid, u32 id, u32 flags) {
        AcpiMadtLocalX2Apic e{};
        e.header = {ACPI_MADT_TYPE_LOCAL_X2APIC, sizeof e};
        e.x2apic_id = id;
        e.flags = flags;
        e.acpi_processor_uid = uid;
        append(body, e);
        return *this;
    }
    MadtBuilder& override_base(u64 base) {
        AcpiMadtLocalApicOverride e{};
        e.header = {ACPI_MADT_TYPE_LOCAL_APIC_OVERRIDE, sizeof e};
        e.local_apic_address = base;
        append(body, e);
        return *this;
    }
    MadtBuilder& ioapic() { // type 1, length 12: must be stepped over
        const u8 e[12] = {1, 12, 0, 0, 0x00, 0x00, 0xC0, 0xFE, 0, 0, 0, 0};
        body.insert(body.end(), e, e + sizeof e);
        return *this;
    }
    MadtBuilder& raw(std::vector<u8> bytes) {
        body.insert(body.end(), bytes.begin(), bytes.end());
        return *this;
    }
    std::vector<u8> table() const { return make_sdt("APIC", body); }
};

constexpr u32 E = ACPI_MADT_LAPIC_ENABLED;
constexpr u32 OC = ACPI_MADT_LAPIC_ONLINE_CAPABLE;

std::vector<u8> four_cpu_madt() {
    return MadtBuilder().lapic(0, 0, E).lapic(1, 2, E).ioapic().lapic(2, 4, E).lapic(3, 6, E).table();
}

std::string what(const Status& s) { return s.what ? s.what : ""; }

// ----------------------------------------------------------------------------------------------------------------
// acpi_validate_rsdp

TEST(AcpiRsdp, ValidV1AndV2) {
    auto v1 = make_rsdp_v1(0x1000);
    EXPECT_TRUE(acpi_validate_rsdp(v1.data(), v1.size()).ok());
    auto v2 = make_rsdp_v2(0x1000, 0x2000);
    EXPECT_TRUE(acpi_validate_rsdp(v2.data(), v2.size()).ok());
    // A v2 RSDP passed with only its 20-byte v1 part readable: the extended part cannot be checked.
    Status s = acpi_validate_rsdp(v2.data(), ACPI_RSDP_V1_SIZE);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(what(s).find("36"), std::string::npos) << what(s);
}

TEST(AcpiRsdp, RejectsBadSignatureAndShortBuffer) {
    auto v1 = make_rsdp_v1(0x1000);
    v1[3] = 'X';
    Status s = acpi_validate_rsdp(v1.data(), v1.size());
    EXPECT_FALSE(s.ok());
    EXPECT_NE(what(s).find("Signature"), std::string::npos) << what(s);

    auto ok = make_rsdp_v1(0x1000);
    EXPECT_FALSE(acpi_validate_rsdp(ok.data(), 19).ok());
    EXPECT_FALSE(acpi_validate_rsdp(nullptr, 36).ok());
}

TEST(AcpiRsdp, RejectsBadChecksums) {
    auto v1 = make_rsdp_v1(0x1000);
    v1[offsetof(AcpiRsdp, checksum)] ^= 1;
    Status s = acpi_validate_rsdp(v1.data(), v1.size());
    EXPECT_FALSE(s.ok());
    EXPECT_NE(what(s).find("Checksum"), std::string::npos) << what(s);

    auto v2 = make_rsdp_v2(0x1000, 0x2000);
    v2[offsetof(AcpiRsdp, extended_checksum)] ^= 0x80; // v1 checksum still right
    s = acpi_validate_rsdp(v2.data(), v2.size());
    EXPECT_FALSE(s.ok());
    EXPECT_NE(what(s).find("Extended Checksum"), std::string::npos) << what(s);
}

TEST(AcpiRsdp, RejectsLengthBeyondBuffer) {
    auto v2 = make_rsdp_v2(0x1000, 0x2000);
    AcpiRsdp r;
    std::memcpy(&r, v2.data(), sizeof r);
    r.length = 40;
    std::memcpy(v2.data(), &r, sizeof r);
    set_checksum(v2, offsetof(AcpiRsdp, checksum), ACPI_RSDP_V1_SIZE);
    Status s = acpi_validate_rsdp(v2.data(), v2.size());
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.value, 40u);
    EXPECT_EQ(s.value2, 36u);

    r.length = 24; // smaller than the v2 structure
    std::memcpy(v2.data(), &r, sizeof r);
    set_checksum(v2, offsetof(AcpiRsdp, checksum), ACPI_RSDP_V1_SIZE);
    EXPECT_FALSE(acpi_validate_rsdp(v2.data(), v2.size()).ok());
}

// ----------------------------------------------------------------------------------------------------------------
// acpi_find_rsdp_bios

constexpr u64 EBDA_PA = 0x9FC00;

FakePhysMem legacy_low_memory(u16 ebda_segment) {
    FakePhysMem m;
    std::vector<u8> bda(0x100, 0);
    std::memcpy(bda.data() + (BDA_EBDA_SEGMENT_PA - 0x400), &ebda_segment, 2);
    m.add(0x400, bda);
    m.add(EBDA_PA, std::vector<u8>(0x400, 0));
    m.add(ACPI_BIOS_AREA_START, std::vector<u8>(ACPI_BIOS_AREA_END - ACPI_BIOS_AREA_START, 0));
    return m;
}

void place(FakePhysMem& m, u64 pa, const std::vector<u8>& bytes) {
    u8* p = m.at(pa);
    ASSERT_NE(p, nullptr);
    ASSERT_NE(m.at(pa + bytes.size() - 1), nullptr);
    std::memcpy(p, bytes.data(), bytes.size());
}

TEST(AcpiFindRsdpBios, FoundInEbda) {
    FakePhysMem m = legacy_low_memory(EBDA_PA >> 4);
    place(m, EBDA_PA + 0x30, make_rsdp_v2(0x1000, 0x2000));
    place(m, 0xF0000, make_rsdp_v1(0x3000)); // the EBDA is searched first
    u64 pa = 0;
    ASSERT_TRUE(acpi_find_rsdp_bios(m, pa).ok());
    EXPECT_EQ(pa, EBDA_PA + 0x30);
}

TEST(AcpiFindRsdpBios, FoundInBiosAreaSkippingBadCandidates) {
    FakePhysMem m = legacy_low_memory(EBDA_PA >> 4);
    auto bad = make_rsdp_v1(0x3000);
    bad[offsetof(AcpiRsdp, checksum)] ^= 1;
    place(m, 0xE0010, bad);                          // right signature, wrong checksum
    place(m, 0xE0104, make_rsdp_v1(0x3000));         // valid but not on a 16-byte boundary
    place(m, 0xFFFD0, make_rsdp_v2(0x1000, 0x2000)); // near the top of the area, 36 bytes still inside
    u64 pa = 0;
    ASSERT_TRUE(acpi_find_rsdp_bios(m, pa).ok());
    EXPECT_EQ(pa, 0xFFFD0u);
}

TEST(AcpiFindRsdpBios, NotFound) {
    FakePhysMem m = legacy_low_memory(0);    // no EBDA
    place(m, 0xE0104, make_rsdp_v1(0x3000)); // misaligned only
    u64 pa = 0x1234;
    Status s = acpi_find_rsdp_bios(m, pa);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(pa, 0x1234u);

    FakePhysMem empty; // nothing readable at all: still a clean error
    EXPECT_FALSE(acpi_find_rsdp_bios(empty, pa).ok());
}

// ----------------------------------------------------------------------------------------------------------------
// acpi_find_table

constexpr u64 RSDT_PA = 0x7FE0000;
constexpr u64 XSDT_PA = 0x7FD0000;
constexpr u64 MADT_PA = 0x7FE1000;
constexpr u64 MADT2_PA = 0x1'2000'0000; // only reachable through the XSDT
constexpr u64 FACP_PA = 0x7FE2000;

TEST(AcpiFindTable, V1UsesRsdt) {
    FakePhysMem m;
    m.put(RSDT_PA, make_rsdt({static_cast<u32>(FACP_PA), static_cast<u32>(MADT_PA)}));
    m.put(FACP_PA, make_sdt("FACP", std::vector<u8>(80, 0)));
    m.put(MADT_PA, four_cpu_madt());
    auto rsdp = make_rsdp_v1(RSDT_PA);
    u64 pa = 0;
    ASSERT_TRUE(acpi_find_table(m, rsdp.data(), rsdp.size(), ACPI_SIG_MADT, pa).ok());
    EXPECT_EQ(pa, MADT_PA);
    ASSERT_TRUE(acpi_find_table(m, rsdp.data(), rsdp.size(), "FACP", pa).ok());
    EXPECT_EQ(pa, FACP_PA);
}

TEST(AcpiFindTable, V1IgnoresBytesAfterTheFirst20) {
    // A revision-0 RSDP passed with 36 readable bytes: what follows byte 20 is not an XsdtAddress.
    FakePhysMem m;
    m.put(RSDT_PA, make_rsdt({static_cast<u32>(MADT_PA)}));
    m.put(MADT_PA, four_cpu_madt());
    m.put(XSDT_PA, make_xsdt({MADT2_PA}));
    m.put(MADT2_PA, four_cpu_madt());
    auto rsdp = make_rsdp_v1(RSDT_PA);
    rsdp.resize(ACPI_RSDP_V2_SIZE, 0);
    const u32 junk_len = ACPI_RSDP_V2_SIZE;
    const u64 junk_xsdt = XSDT_PA;
    std::memcpy(rsdp.data() + offsetof(AcpiRsdp, length), &junk_len, 4);
    std::memcpy(rsdp.data() + offsetof(AcpiRsdp, xsdt_address), &junk_xsdt, 8);
    u64 pa = 0;
    ASSERT_TRUE(acpi_find_table(m, rsdp.data(), rsdp.size(), ACPI_SIG_MADT, pa).ok());
    EXPECT_EQ(pa, MADT_PA);
}

TEST(AcpiFindTable, V2PrefersXsdt) {
    FakePhysMem m;
    m.put(RSDT_PA, make_rsdt({static_cast<u32>(MADT_PA)}));
    m.put(XSDT_PA, make_xsdt({FACP_PA, MADT2_PA}));
    m.put(FACP_PA, make_sdt("FACP", std::vector<u8>(80, 0)));
    m.put(MADT_PA, four_cpu_madt());
    m.put(MADT2_PA, four_cpu_madt());
    auto rsdp = make_rsdp_v2(RSDT_PA, XSDT_PA);
    u64 pa = 0;
    ASSERT_TRUE(acpi_find_table(m, rsdp.data(), rsdp.size(), ACPI_SIG_MADT, pa).ok());
    EXPECT_EQ(pa, MADT2_PA);

    // Revision 2 with XsdtAddress 0: the RSDT is used.
    auto rsdp_no_x = make_rsdp_v2(RSDT_PA, 0);
    ASSERT_TRUE(acpi_find_table(m, rsdp_no_x.data(), rsdp_no_x.size(), ACPI_SIG_MADT, pa).ok());
    EXPECT_EQ(pa, MADT_PA);
}

TEST(AcpiFindTable, RejectsInvalidRsdp) {
    FakePhysMem m;
    m.put(RSDT_PA, make_rsdt({static_cast<u32>(MADT_PA)}));
    m.put(MADT_PA, four_cpu_madt());
    auto rsdp = make_rsdp_v1(RSDT_PA);
    rsdp[offsetof(AcpiRsdp, checksum)] ^= 1;
    u64 pa = 0;
    Status s = acpi_find_table(m, rsdp.data(), rsdp.size(), ACPI_SIG_MADT, pa);
    EXPECT_FALSE(s.ok());
    EXPECT_STREQ(s.where, "RSDP");
}

TEST(AcpiFindTable, RejectsBadXsdtChecksum) {
    FakePhysMem m;
    auto x = make_xsdt({MADT_PA});
    x[offsetof(AcpiSdtHeader, checksum)] ^= 1;
    m.put(XSDT_PA, x);
    m.put(MADT_PA, four_cpu_madt());
    auto rsdp = make_rsdp_v2(RSDT_PA, XSDT_PA);
    u64 pa = 0;
    Status s = acpi_find_table(m, rsdp.data(), rsdp.size(), ACPI_SIG_MADT, pa);
    EXPECT_FALSE(s.ok());
    EXPECT_STREQ(s.where, "XSDT");
    EXPECT_NE(what(s).find("Checksum"), std::string::npos) << what(s);
}

TEST(AcpiFindTable, RejectsWrongRootSignature) {
    FakePhysMem m;
    m.put(XSDT_PA, make_sdt("RSDT", {})); // an RSDT where the XSDT should be
    auto rsdp = make_rsdp_v2(RSDT_PA, XSDT_PA);
    u64 pa = 0;
    Status s = acpi_find_table(m, rsdp.data(), rsdp.size(), ACPI_SIG_MADT, pa);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(what(s).find("Signature"), std::string::npos) << what(s);
}

TEST(AcpiFindTable, RejectsBadMadtChecksum) {
    FakePhysMem m;
    m.put(XSDT_PA, make_xsdt({MADT_PA}));
    auto madt = four_cpu_madt();
    madt[50] ^= 0x10;
    m.put(MADT_PA, madt);
    auto rsdp = make_rsdp_v2(RSDT_PA, XSDT_PA);
    u64 pa = 0;
    Status s = acpi_find_table(m, rsdp.data(), rsdp.size(), ACPI_SIG_MADT, pa);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.value, MADT_PA);
}

TEST(AcpiFindTable, RejectsTableLengthPastMappedMemory) {
    FakePhysMem m;
    m.put(XSDT_PA, make_xsdt({MADT_PA}));
    auto madt = four_cpu_madt();
    AcpiSdtHeader h;
    std::memcpy(&h, madt.data(), sizeof h);
    h.length += 4096; // claims more than is there
    std::memcpy(madt.data(), &h, sizeof h);
    m.put(MADT_PA, madt);
    auto rsdp = make_rsdp_v2(RSDT_PA, XSDT_PA);
    u64 pa = 0;
    Status s = acpi_find_table(m, rsdp.data(), rsdp.size(), ACPI_SIG_MADT, pa);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(what(s).find("not readable"), std::string::npos) << what(s);
    EXPECT_EQ(s.value2, h.length);

    // Same for the root table itself.
    FakePhysMem m2;
    auto x = make_xsdt({MADT_PA});
    std::memcpy(&h, x.data(), sizeof h);
    h.length = 0x10000;
    std::memcpy(x.data(), &h, sizeof h);
    m2.put(XSDT_PA, x);
    EXPECT_FALSE(acpi_find_table(m2, rsdp.data(), rsdp.size(), ACPI_SIG_MADT, pa).ok());
}

TEST(AcpiFindTable, RootLengthSmallerThanHeader) {
    FakePhysMem m;
    auto r = make_rsdt({});
    AcpiSdtHeader h;
    std::memcpy(&h, r.data(), sizeof h);
    h.length = 10;
    std::memcpy(r.data(), &h, sizeof h);
    m.put(RSDT_PA, r);
    auto rsdp = make_rsdp_v1(RSDT_PA);
    u64 pa = 0;
    Status s = acpi_find_table(m, rsdp.data(), rsdp.size(), ACPI_SIG_MADT, pa);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.value, 10u);
}

TEST(AcpiFindTable, MissingMadt) {
    FakePhysMem m;
    m.put(XSDT_PA, make_xsdt({FACP_PA, 0, 0xDEAD0000})); // a null entry and an unreadable one
    m.put(FACP_PA, make_sdt("FACP", std::vector<u8>(80, 0)));
    auto rsdp = make_rsdp_v2(RSDT_PA, XSDT_PA);
    u64 pa = 0x55;
    Status s = acpi_find_table(m, rsdp.data(), rsdp.size(), ACPI_SIG_MADT, pa);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(what(s).find("not found"), std::string::npos) << what(s);
    u32 sig;
    std::memcpy(&sig, "APIC", 4);
    EXPECT_EQ(s.value, sig);
    EXPECT_EQ(s.value2, 1u); // one unreadable entry
    EXPECT_EQ(pa, 0x55u);
}

TEST(AcpiFindTable, SkipsUnreadableEntryBeforeTheTable) {
    FakePhysMem m;
    m.put(RSDT_PA, make_rsdt({0xDEAD0000, static_cast<u32>(MADT_PA)}));
    m.put(MADT_PA, four_cpu_madt());
    auto rsdp = make_rsdp_v1(RSDT_PA);
    u64 pa = 0;
    ASSERT_TRUE(acpi_find_table(m, rsdp.data(), rsdp.size(), ACPI_SIG_MADT, pa).ok());
    EXPECT_EQ(pa, MADT_PA);
}

// ----------------------------------------------------------------------------------------------------------------
// acpi_parse_madt

MadtCpus parse_ok(const std::vector<u8>& madt) {
    FakePhysMem m;
    m.put(MADT_PA, madt);
    MadtCpus c;
    std::memset(&c, 0xA5, sizeof c); // stale contents must be cleared
    Status s = acpi_parse_madt(m, MADT_PA, c);
    EXPECT_TRUE(s.ok()) << what(s) << " " << s.value << " " << s.value2;
    return c;
}

Status parse(const std::vector<u8>& madt) {
    FakePhysMem m;
    m.put(MADT_PA, madt);
    MadtCpus c;
    return acpi_parse_madt(m, MADT_PA, c);
}

TEST(AcpiMadt, FourCpus) {
    MadtCpus c = parse_ok(four_cpu_madt());
    ASSERT_EQ(c.count, 4u);
    const u32 want[] = {0, 2, 4, 6};
    for (u32 i = 0; i < 4; ++i) {
        EXPECT_EQ(c.apic_id[i], want[i]);
        EXPECT_FALSE(c.x2apic[i]);
    }
    EXPECT_EQ(c.lapic_base, 0xFEE00000u);
    EXPECT_EQ(c.disabled_skipped, 0u);
    EXPECT_EQ(c.overflow_skipped, 0u);
    EXPECT_EQ(c.duplicate_skipped, 0u);
}

TEST(AcpiMadt, SkipsDisabledAndOnlineCapable) {
    MadtCpus c = parse_ok(MadtBuilder().lapic(0, 0, E).lapic(1, 1, 0).lapic(2, 2, OC).lapic(3, 3, E | OC).table());
    ASSERT_EQ(c.count, 2u);
    EXPECT_EQ(c.apic_id[0], 0u);
    EXPECT_EQ(c.apic_id[1], 3u);
    EXPECT_EQ(c.disabled_skipped, 2u);
}

TEST(AcpiMadt, X2ApicEntriesAndDuplicates) {
    MadtCpus c = parse_ok(MadtBuilder()
                              .lapic(0, 0, E)
                              .lapic(1, 1, E)
                              .x2apic(0, 0, E)     // same CPU as the first xAPIC entry
                              .x2apic(2, 0x100, E) // only expressible as x2APIC
                              .x2apic(3, 0x101, 0) // disabled
                              .table());
    ASSERT_EQ(c.count, 3u);
    EXPECT_EQ(c.apic_id[2], 0x100u);
    EXPECT_FALSE(c.x2apic[0]);
    EXPECT_FALSE(c.x2apic[1]);
    EXPECT_TRUE(c.x2apic[2]);
    EXPECT_EQ(c.duplicate_skipped, 1u);
    EXPECT_EQ(c.disabled_skipped, 1u);
}

TEST(AcpiMadt, LocalApicAddressOverride) {
    MadtCpus c = parse_ok(MadtBuilder(0xFEE00000).lapic(0, 0, E).override_base(0x1'0000'0000).table());
    EXPECT_EQ(c.lapic_base, 0x1'0000'0000u);
    EXPECT_EQ(c.count, 1u);
}

TEST(AcpiMadt, OverflowIsCountedNotAnError) {
    MadtBuilder b;
    for (u32 i = 0; i < EVMM_MAX_CPUS + 3; ++i) b.x2apic(i, i, E);
    MadtCpus c = parse_ok(b.table());
    EXPECT_EQ(c.count, EVMM_MAX_CPUS);
    EXPECT_EQ(c.overflow_skipped, 3u);
    EXPECT_EQ(c.apic_id[EVMM_MAX_CPUS - 1], EVMM_MAX_CPUS - 1);
}

TEST(AcpiMadt, ZeroLengthEntryIsAnError) {
    Status s = parse(MadtBuilder().lapic(0, 0, E).raw({0, 0, 0, 0, 0, 0, 0, 0}).lapic(1, 1, E).table());
    ASSERT_FALSE(s.ok());
    EXPECT_STREQ(s.where, "MADT");
    EXPECT_EQ(s.value, sizeof(AcpiMadt) + sizeof(AcpiMadtLocalApic)); // offset of the bad entry
    EXPECT_EQ(s.value2, 0u);
    // Length 1 as well (would not advance past its own header).
    EXPECT_FALSE(parse(MadtBuilder().raw({7, 1, 0, 0}).table()).ok());
}

TEST(AcpiMadt, EntryPastEndIsAnError) {
    // A type-0 entry claiming 8 bytes with only 6 left in the table.
    Status s = parse(MadtBuilder().lapic(0, 0, E).raw({0, 8, 1, 1, 1, 0}).table());
    ASSERT_FALSE(s.ok());
    EXPECT_NE(what(s).find("past the table Length"), std::string::npos) << what(s);
    // A lone byte at the end: not even an entry header.
    EXPECT_FALSE(parse(MadtBuilder().lapic(0, 0, E).raw({0}).table()).ok());
}

TEST(AcpiMadt, ShortKnownEntriesAreErrors) {
    EXPECT_FALSE(parse(MadtBuilder().raw({ACPI_MADT_TYPE_LOCAL_APIC, 6, 0, 0, 1, 0}).table()).ok());
    EXPECT_FALSE(parse(MadtBuilder().raw({ACPI_MADT_TYPE_LOCAL_X2APIC, 8, 0, 0, 1, 0, 0, 0}).table()).ok());
    EXPECT_FALSE(parse(MadtBuilder().raw({ACPI_MADT_TYPE_LOCAL_APIC_OVERRIDE, 4, 0, 0}).table()).ok());
    // An unknown type with a sane Length is stepped over.
    MadtCpus c = parse_ok(MadtBuilder().raw({0x7F, 3, 0}).lapic(0, 5, E).table());
    EXPECT_EQ(c.count, 1u);
    EXPECT_EQ(c.apic_id[0], 5u);
}

TEST(AcpiMadt, BadChecksumAndSignature) {
    auto madt = four_cpu_madt();
    madt.back() ^= 1;
    Status s = parse(madt);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(what(s).find("Checksum"), std::string::npos) << what(s);

    auto facp = make_sdt("FACP", std::vector<u8>(80, 0));
    s = parse(facp);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(what(s).find("Signature"), std::string::npos) << what(s);
}

TEST(AcpiMadt, TooShortOrUnmapped) {
    Status s = parse(make_sdt("APIC", {0, 0, 0xE0, 0xFE})); // 40 bytes: no Flags field
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.value, 40u);

    FakePhysMem m;
    MadtCpus c;
    EXPECT_FALSE(acpi_parse_madt(m, MADT_PA, c).ok());
    EXPECT_EQ(c.count, 0u);
}

TEST(AcpiMadt, EndToEndThroughXsdt) {
    FakePhysMem m;
    m.put(XSDT_PA, make_xsdt({FACP_PA, MADT2_PA}));
    m.put(FACP_PA, make_sdt("FACP", std::vector<u8>(80, 0)));
    m.put(MADT2_PA, MadtBuilder().lapic(0, 0, E).lapic(1, 1, E).lapic(2, 2, 0).table());
    auto rsdp = make_rsdp_v2(0, XSDT_PA);
    u64 pa = 0;
    ASSERT_TRUE(acpi_find_table(m, rsdp.data(), rsdp.size(), ACPI_SIG_MADT, pa).ok());
    MadtCpus c;
    ASSERT_TRUE(acpi_parse_madt(m, pa, c).ok());
    EXPECT_EQ(c.count, 2u);
    EXPECT_EQ(c.disabled_skipped, 1u);
}

// ----------------------------------------------------------------------------------------------------------------
// acpi_parse_fadt, acpi_find_s5

constexpr u64 FADT_TEST_PA = 0x7F00000;
constexpr u64 DSDT_TEST_PA = 0x7F10000;

// AML for `Name (\_S5, Package (0x04) { a, b, Zero, Zero })`, as iasl writes it (the \ root prefix included).
std::vector<u8> s5_aml(std::vector<u8> a, std::vector<u8> b) {
    std::vector<u8> v = {0x08, '\\', '_', 'S', '5', '_', AML_PACKAGE_OP, 0, 0x04};
    v.insert(v.end(), a.begin(), a.end());
    v.insert(v.end(), b.begin(), b.end());
    v.push_back(AML_ZERO_OP);
    v.push_back(AML_ZERO_OP);
    v[7] = static_cast<u8>(v.size() - 7); // PkgLength: from itself to the package's end
    return v;
}

// A FADT body (after the header) of `total` bytes with the given fields.
std::vector<u8> fadt_body(size_t total, u32 dsdt, u32 pm1a, u32 pm1b, u32 flags = 0, u32 evt_a = 0, u32 evt_b = 0) {
    std::vector<u8> v(total - sizeof(AcpiSdtHeader), 0);
    auto put32 = [&](size_t off, u32 x) { std::memcpy(v.data() + off - sizeof(AcpiSdtHeader), &x, 4); };
    put32(ACPI_FADT_DSDT, dsdt);
    put32(ACPI_FADT_PM1A_CNT_BLK, pm1a);
    put32(ACPI_FADT_PM1B_CNT_BLK, pm1b);
    put32(ACPI_FADT_PM1A_EVT_BLK, evt_a);
    put32(ACPI_FADT_PM1B_EVT_BLK, evt_b);
    put32(ACPI_FADT_FLAGS, flags);
    return v;
}

constexpr size_t FADT_V6_LENGTH = 276;

TEST(AcpiTableRename, NewSignatureSameSum) {
    for (const char* old_sig : {"DMAR", "IVRS"}) {
        std::vector<u8> t = make_sdt(old_sig, std::vector<u8>(40, 0x5A));
        auto& h = *reinterpret_cast<AcpiSdtHeader*>(t.data());
        const std::vector<u8> before = t;
        acpi_table_rename(h, old_sig[0] == 'D' ? "XMAR" : "XVRS");
        EXPECT_EQ(std::string(h.signature, 4), old_sig[0] == 'D' ? "XMAR" : "XVRS");
        u8 sum = 0;
        for (u8 b : t) sum = static_cast<u8>(sum + b);
        EXPECT_EQ(sum, 0u) << old_sig; // still a valid table, only under another name
        for (size_t i = 4; i < t.size(); ++i) {
            if (i != offsetof(AcpiSdtHeader, checksum)) {
                EXPECT_EQ(t[i], before[i]) << i;
            }
        }
    }
}

TEST(AcpiS5, IaslEncodings) {
    u8 a = 9, b = 9;
    auto aml = s5_aml({AML_BYTE_PREFIX, 5}, {AML_BYTE_PREFIX, 6});
    ASSERT_TRUE(acpi_find_s5(aml.data(), aml.size(), a, b));
    EXPECT_EQ(a, 5u);
    EXPECT_EQ(b, 6u);
    aml = s5_aml({AML_ZERO_OP}, {AML_ONE_OP}); // Bochs/QEMU's SeaBIOS DSDT: Package { Zero, Zero, ... }
    ASSERT_TRUE(acpi_find_s5(aml.data(), aml.size(), a, b));
    EXPECT_EQ(a, 0u);
    EXPECT_EQ(b, 1u);
}

TEST(AcpiS5, SkipsLookalikesAndRefusesTruncation) {
    u8 a = 0, b = 0;
    // "_S5_" used as a method name (MethodOp, not a package) before the real object.
    std::vector<u8> aml = {0x14, 0x08, '_', 'S', '5', '_', 0x00, 0xA4, 0x00};
    auto real = s5_aml({AML_BYTE_PREFIX, 7}, {AML_BYTE_PREFIX, 7});
    aml.insert(aml.end(), real.begin(), real.end());
    ASSERT_TRUE(acpi_find_s5(aml.data(), aml.size(), a, b));
    EXPECT_EQ(a, 7u);
    // Cut anywhere before the second element: not found, and nothing read past the end (ASan).
    for (size_t n = 0; n < real.size() - 2; ++n) {
        std::vector<u8> cut(real.begin(), real.begin() + static_cast<long>(n));
        EXPECT_FALSE(acpi_find_s5(cut.data(), cut.size(), a, b)) << n;
    }
    // A package of one element, or of non-integer elements.
    std::vector<u8> one = {'_', 'S', '5', '_', AML_PACKAGE_OP, 3, 1, AML_ONE_OP};
    EXPECT_FALSE(acpi_find_s5(one.data(), one.size(), a, b));
    auto word = s5_aml({0x0B, 5, 0}, {AML_ONE_OP}); // WordPrefix: not a SLP_TYP encoding
    EXPECT_FALSE(acpi_find_s5(word.data(), word.size(), a, b));
    EXPECT_FALSE(acpi_find_s5(nullptr, 10, a, b));
}

TEST(AcpiFadt, LegacyPortsAndS5) {
    FakePhysMem m;
    m.put(FADT_TEST_PA, make_sdt("FACP", fadt_body(ACPI_FADT_V1_MIN_LENGTH, DSDT_TEST_PA, 0xB004, 0, 0, 0xB000)));
    m.put(DSDT_TEST_PA, make_sdt("DSDT", s5_aml({AML_ZERO_OP}, {AML_ZERO_OP})));
    AcpiPowerInfo p;
    Status s = acpi_parse_fadt(m, FADT_TEST_PA, p);
    ASSERT_TRUE(s.ok()) << what(s);
    EXPECT_EQ(p.pm1a_cnt, 0xB004u);
    EXPECT_EQ(p.pm1b_cnt, 0u);
    EXPECT_EQ(p.pm1a_sts, 0xB000u); // PM1a_EVT_BLK: the status register comes first
    EXPECT_EQ(p.pm1b_sts, 0u);
    EXPECT_TRUE(p.s5_valid);
    EXPECT_EQ(p.s5_slp_typ_a, 0u);
    EXPECT_FALSE(p.hw_reduced);
}

TEST(AcpiFadt, ExtendedFieldsWinWhenSet) {
    auto body = fadt_body(FADT_V6_LENGTH, 0, 0x404, 0);
    const u64 xdsdt = DSDT_TEST_PA;
    std::memcpy(body.data() + ACPI_FADT_X_DSDT - sizeof(AcpiSdtHeader), &xdsdt, 8);
    AcpiGas g{ACPI_GAS_SYSTEM_IO, 16, 0, 2, 0x1804};
    std::memcpy(body.data() + ACPI_FADT_X_PM1A_CNT_BLK - sizeof(AcpiSdtHeader), &g, sizeof g);
    g.address_space_id = ACPI_GAS_SYSTEM_MEMORY; // memory-mapped PM1b: not a port, not reported
    g.address = 0xFED00000;
    std::memcpy(body.data() + ACPI_FADT_X_PM1B_CNT_BLK - sizeof(AcpiSdtHeader), &g, sizeof g);
    AcpiGas evt{ACPI_GAS_SYSTEM_IO, 32, 0, 2, 0x1800};
    std::memcpy(body.data() + ACPI_FADT_X_PM1A_EVT_BLK - sizeof(AcpiSdtHeader), &evt, sizeof evt);
    FakePhysMem m;
    m.put(FADT_TEST_PA, make_sdt("FACP", body));
    m.put(DSDT_TEST_PA, make_sdt("DSDT", s5_aml({AML_BYTE_PREFIX, 7}, {AML_BYTE_PREFIX, 7})));
    AcpiPowerInfo p;
    ASSERT_TRUE(acpi_parse_fadt(m, FADT_TEST_PA, p).ok());
    EXPECT_EQ(p.pm1a_cnt, 0x1804u);
    EXPECT_EQ(p.pm1b_cnt, 0u);
    EXPECT_EQ(p.pm1a_sts, 0x1800u);
    EXPECT_TRUE(p.s5_valid);
    EXPECT_EQ(p.s5_slp_typ_a, 7u);
}

TEST(AcpiFadt, HardwareReducedAndMissingDsdtAreNotErrors) {
    FakePhysMem m;
    m.put(FADT_TEST_PA, make_sdt("FACP", fadt_body(FADT_V6_LENGTH, 0x1234000, 0xB004, 0, ACPI_FADT_HW_REDUCED_ACPI)));
    AcpiPowerInfo p;
    ASSERT_TRUE(acpi_parse_fadt(m, FADT_TEST_PA, p).ok()); // the DSDT at 0x1234000 is not readable
    EXPECT_TRUE(p.hw_reduced);
    EXPECT_EQ(p.pm1a_cnt, 0u);
    EXPECT_EQ(p.pm1a_sts, 0u);
    EXPECT_FALSE(p.s5_valid);
}

TEST(AcpiFadt, RejectsShortBadOrMissingTables) {
    FakePhysMem m;
    AcpiPowerInfo p;
    EXPECT_FALSE(acpi_parse_fadt(m, FADT_TEST_PA, p).ok());
    m.put(FADT_TEST_PA, make_sdt("FACP", std::vector<u8>(40, 0))); // 76 bytes: shorter than ACPI 1.0's FADT
    Status s = acpi_parse_fadt(m, FADT_TEST_PA, p);
    EXPECT_FALSE(s.ok());
    EXPECT_STREQ(s.where, "FADT");
    FakePhysMem m2;
    auto t = make_sdt("FACP", fadt_body(ACPI_FADT_V1_MIN_LENGTH, 0, 0xB004, 0));
    t[20] ^= 1;
    m2.put(FADT_TEST_PA, t);
    s = acpi_parse_fadt(m2, FADT_TEST_PA, p);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(what(s).find("Checksum"), std::string::npos) << what(s);
}

} // namespace
} // namespace evmm

/* The VMM image (stripped, position independent), packed at build time (tools/pack, lib/formats/vmm_pack.h: a
   48-byte header and an LZ4 block) and embedded in the loader; stage1 unpacks it into the runtime region and loads
   it from there. Only the decoder reads these bytes: 8-byte alignment is enough (no page of padding). */
    .section .rodata.vmm_blob, "a"
    .balign 8
    .globl evmm_vmm_blob_start, evmm_vmm_blob_end
evmm_vmm_blob_start:
    .incbin VMM_BLOB_PATH
evmm_vmm_blob_end:

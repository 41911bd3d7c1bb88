/* The VMM image (stripped, position independent), embedded in the loader; stage1 loads it. */
    .section .rodata.vmm_blob, "a"
    .balign 4096
    .globl evmm_vmm_blob_start, evmm_vmm_blob_end
evmm_vmm_blob_start:
    .incbin VMM_BLOB_PATH
evmm_vmm_blob_end:

/* The Xen ELF note that marks a PVH entry point (XEN_ELFNOTE_PHYS32_ENTRY = 18). */
	.section .note.pvh, "a", @note
	.p2align 2
	.long 4			/* name size */
	.long 4			/* desc size */
	.long 18		/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long _start

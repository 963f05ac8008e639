/*
 * Test-guest start-up: 32-bit entry (PVH or multiboot), the switch to long
 * mode over static identity page tables, the AP real-mode trampoline, the
 * interrupt stubs and the CPL3 call gate.
 */
#define KCODE32		0x08
#define KDATA		0x10
#define KCODE64		0x18
#define UDATA		0x23
#define UCODE64		0x2b
#define STACK_SIZE	16384
#define MAX_CPUS	64

	.section .boot, "ax"
	.code32
	.globl _start
_start:
	cli
	cld
	movl %eax, boot_magic
	movl %ebx, boot_info
	lgdt gdt_ptr
	ljmp $KCODE32, $1f
1:	movl $KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	xorl %edi, %edi			/* the BSP */
	jmp enter_long

	.globl ap_entry32
ap_entry32:				/* from the trampoline, CS = KCODE32 */
	movl $KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movl $1, %edi			/* an AP */
enter_long:
	movl %cr4, %eax
	orl $0x20, %eax			/* PAE */
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $0xc0000080, %ecx		/* EFER */
	rdmsr
	orl $0x100, %eax		/* LME */
	wrmsr
	movl %cr0, %eax
	orl $0x80010001, %eax		/* PG, WP, PE */
	movl %eax, %cr0
	ljmp $KCODE64, $long_mode

	.code64
long_mode:
	movl $KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	testl %edi, %edi
	jnz 2f
	leaq cpu_stacks + STACK_SIZE(%rip), %rsp
	call guest_start_bsp
	jmp halt_forever
2:	movl $1, %eax
	lock xaddl %eax, next_cpu_index(%rip)
	cmpl $MAX_CPUS, %eax
	jae halt_forever
	movl %eax, %edi
	incl %eax
	imull $STACK_SIZE, %eax
	leaq cpu_stacks(%rip), %rsp
	addq %rax, %rsp
	call guest_start_ap
	.globl halt_forever
halt_forever:
	cli
	hlt
	jmp halt_forever

/* Real-mode AP start-up code; the BSP copies it to a page below 1 MiB. */
	.code16
	.globl ap_tramp_start, ap_tramp_end
ap_tramp_start:
	cli
	movw %cs, %ax
	movw %ax, %ds
	lgdtl (tramp_gdt_ptr - ap_tramp_start)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $KCODE32, $ap_entry32
	.p2align 3
tramp_gdt_ptr:
	.word gdt_end - gdt - 1
	.long gdt
ap_tramp_end:
	.code64

	.text
/* 256 interrupt stubs, 16 bytes apart; those without a CPU error code push 0. */
	.p2align 4
	.globl isr_stubs
isr_stubs:
	.set vec, 0
	.rept 256
	.p2align 4
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushq $0
	.endif
	pushq $vec
	jmp isr_common
	.set vec, vec + 1
	.endr

isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	cld
	call isr_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp
	iretq

/*
 * long user_call(long (*fn)(long), long arg, void *stack_top)
 * Runs fn(arg) in CPL3 with IOPL 3 on stack_top; fn's return value comes
 * back through ud2 at user_return_point, which the #UD handler turns into
 * user_resume().  Interrupts stay off in user mode.
 */
	.globl user_call
user_call:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, kernel_ctx_rsp(%rip)
	movq %rsp, tss + 4(%rip)	/* rsp0: traps from CPL3 land below this frame */
	pushq $UDATA
	pushq %rdx
	pushq $0x3002			/* IOPL 3, IF 0 */
	pushq $UCODE64
	leaq user_trampoline(%rip), %rax
	pushq %rax
	iretq

	.globl user_trampoline, user_return_point
user_trampoline:
	movq %rdi, %rax
	movq %rsi, %rdi
	call *%rax
user_return_point:
	ud2

	.globl user_resume
user_resume:
	movq %rdi, %rax
	movq kernel_ctx_rsp(%rip), %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

	.data
	.globl boot_magic, boot_info, next_cpu_index
boot_magic:	.long 0
boot_info:	.long 0
next_cpu_index:	.long 1
kernel_ctx_rsp:	.quad 0

	.p2align 4
	.globl gdt, gdt_tss
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08 kernel code, 32-bit */
	.quad 0x00cf92000000ffff	/* 0x10 kernel data */
	.quad 0x00af9a000000ffff	/* 0x18 kernel code, 64-bit */
	.quad 0x00cff2000000ffff	/* 0x20 user data */
	.quad 0x00affa000000ffff	/* 0x28 user code, 64-bit */
gdt_tss:
	.quad 0, 0			/* 0x30 TSS, filled in at start-up */
gdt_end:
	.p2align 3
	.globl gdt_ptr
gdt_ptr:
	.word gdt_end - gdt - 1
	.quad gdt

/* Identity map of the first 8 GiB with 2 MiB user-accessible pages, built at link time. */
	.p2align 12
	.globl pml4
pml4:
	.quad pdpt + 7
	.fill 511, 8, 0
pdpt:
	.set i, 0
	.rept 8
	.quad pd + i * 4096 + 7
	.set i, i + 1
	.endr
	.fill 504, 8, 0
pd:
	.set i, 0
	.rept 4096
	.quad (i << 21) | 0x87
	.set i, i + 1
	.endr

	.bss
	.p2align 12
	.globl cpu_stacks
cpu_stacks:
	.skip STACK_SIZE * (MAX_CPUS + 1)

	.section .note.GNU-stack, "", @progbits

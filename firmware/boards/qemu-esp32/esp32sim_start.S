// tinyml's qemu-esp32 board: start-up code for the ESP32's core (Xtensa LX6, windowed ABI) on QEMU's
// "sim" machine: the vector table (window overflow/underflow handlers, the level-1 handler that ends
// a WAITI, fatal exceptions), _start, and what the windowed ABI needs from a C library here:
// a window spill, setjmp/longjmp (MicroPython's NLR) and the GC's register scan.
// Written for this project from the Xtensa ISA reference's description of the windowed registers.

#define PS_INTLEVEL(n)  (n)
#define PS_UM           (1 << 5)
#define PS_WOE          (1 << 18)
#define EXCCAUSE_LEVEL1_INTERRUPT 4
#define EXCCAUSE_LOAD_STORE_ERROR 3
#define EXCCAUSE_LOAD_PROHIBITED 28
// The 512 MB region of executable memory for native code (TINYML_EXEC_ADDR): data access to it is
// off (region protection attribute 3: execute only). The handler performs a 32-bit load from the
// copy of the code kept at EXEC_SHADOW (esp32sim.c), same offset.
#define EXEC_REGION     0x60000000
#define EXEC_SHADOW     0x40400000
#define ATTR_EXEC_ONLY  3

// ---- vector table, at VECBASE (offsets fixed by the core configuration) ---------------------------
    .section .vectors, "ax"
    .align 4

// Window overflow: store the frame that owns a0..a3 (a0..a7, a0..a11) to its save areas. The base
// save area (a0..a3) is the 16 bytes below the next frame's stack pointer; the extra registers of
// a call8/call12 frame go below the stack pointer of the frame's caller (read from that caller's
// base save area). Underflow reloads them.
    .org 0x00
_WindowOverflow4:
    s32e    a0, a5, -16
    s32e    a1, a5, -12
    s32e    a2, a5, -8
    s32e    a3, a5, -4
    rfwo

    .org 0x40
_WindowUnderflow4:
    l32e    a0, a5, -16
    l32e    a1, a5, -12
    l32e    a2, a5, -8
    l32e    a3, a5, -4
    rfwu

    .org 0x80
_WindowOverflow8:
    s32e    a0, a9, -16
    l32e    a0, a1, -12         // the caller's stack pointer
    s32e    a1, a9, -12
    s32e    a2, a9, -8
    s32e    a3, a9, -4
    s32e    a4, a0, -32
    s32e    a5, a0, -28
    s32e    a6, a0, -24
    s32e    a7, a0, -20
    rfwo

    .org 0xc0
_WindowUnderflow8:
    l32e    a1, a9, -12
    l32e    a0, a9, -16
    l32e    a7, a1, -12         // the caller's stack pointer
    l32e    a2, a9, -8
    l32e    a4, a7, -32
    l32e    a3, a9, -4
    l32e    a5, a7, -28
    l32e    a6, a7, -24
    l32e    a7, a7, -20
    rfwu

    .org 0x100
_WindowOverflow12:
    s32e    a0, a13, -16
    l32e    a0, a1, -12
    s32e    a1, a13, -12
    s32e    a2, a13, -8
    s32e    a3, a13, -4
    s32e    a4, a0, -48
    s32e    a5, a0, -44
    s32e    a6, a0, -40
    s32e    a7, a0, -36
    s32e    a8, a0, -32
    s32e    a9, a0, -28
    s32e    a10, a0, -24
    s32e    a11, a0, -20
    rfwo

    .org 0x140
_WindowUnderflow12:
    l32e    a1, a13, -12
    l32e    a0, a13, -16
    l32e    a11, a1, -12
    l32e    a2, a13, -8
    l32e    a4, a11, -48
    l32e    a8, a11, -32
    l32e    a3, a13, -4
    l32e    a5, a11, -44
    l32e    a6, a11, -40
    l32e    a7, a11, -36
    l32e    a9, a11, -28
    l32e    a10, a11, -24
    l32e    a11, a11, -20
    rfwu

// Interrupts of levels 2..7 and debug are never enabled.
    .org 0x180
    j       .Lfatal_high
    .org 0x1c0
    j       .Lfatal_high
    .org 0x200
    j       .Lfatal_high
    .org 0x240
    j       .Lfatal_high
    .org 0x280
    j       .Lfatal_high
    .org 0x2c0
    j       .Lfatal_high

    .org 0x300                  // kernel exception (PS.UM = 0): not used
_KernelExceptionVector:
    wsr.excsave1 a0
    j       .Lfatal

    .org 0x340                  // user exception (PS.UM = 1): the CCOMPARE0 interrupt ending a WAITI,
_UserExceptionVector:           // a load from native code's memory, or an exception fatal here
    wsr.excsave1 a0
    rsr.exccause a0
    addi    a0, a0, -EXCCAUSE_LOAD_PROHIBITED
    beqz    a0, .Lload_prohibited
    rsr.exccause a0
    bnei    a0, EXCCAUSE_LEVEL1_INTERRUPT, .Lfatal
    movi    a0, 0
    wsr.intenable a0            // the wait is over; the pending interrupt is cleared by the next
    rsr.excsave1 a0             // write of CCOMPARE0
    rfe

    .org 0x3c0                  // double exception
    wsr.excsave1 a0
    j       .Lfatal

    .org 0x400
    .literal_position

// A load from executable memory (LoadProhibited there): as the ESP32's IRAM does, a 32-bit load
// (L32R, L32I, L32I.N) reads the word, anything narrower is a LoadStoreError. a0..a5 are saved in
// .Lsaved (a0 from EXCSAVE1), the word goes to the instruction's target register (its slot there,
// or directly for a6..a15), EPC1 moves past the instruction (to LBEG at the end of a loop).
.Lload_prohibited:
    movi    a0, .Lsaved
    s32i    a1, a0, 4
    s32i    a2, a0, 8
    s32i    a3, a0, 12
    s32i    a4, a0, 16
    s32i    a5, a0, 20
    rsr.excsave1 a2
    s32i    a2, a0, 0
    movi    a3, EXEC_SHADOW - EXEC_REGION
    rsr.epc1 a4
    movi    a2, EXEC_REGION
    bltu    a4, a2, 1f          // the instruction is the firmware's
    add     a4, a4, a3          // the instruction is in executable memory: read its copy
1:  l8ui    a5, a4, 0           // op0 (bits 3..0), t (bits 7..4)
    l8ui    a3, a4, 1           // r (bits 7..4) of an RRI8 instruction
    extui   a2, a5, 0, 4
    movi    a4, 3               // length
    beqi    a2, 1, .Lload_word  // L32R
    movi    a4, 2
    beqi    a2, 8, .Lload_word  // L32I.N
    movi    a4, 3
    bnei    a2, 2, .Lnarrow
    extui   a3, a3, 4, 4
    bnei    a3, 2, .Lnarrow     // L8UI, L16UI, L16SI (or a store: not a load at all)
.Lload_word:
    movi    a0, tinyml_iram_loads
    l32i    a2, a0, 0
    addi    a2, a2, 1
    s32i    a2, a0, 0
    rsr.excvaddr a2
    movi    a3, EXEC_SHADOW - EXEC_REGION
    add     a2, a2, a3
    l32i    a2, a2, 0
    rsr.epc1 a3
    add     a3, a3, a4
    rsr.lend a4
    bne     a3, a4, 1f
    rsr.lcount a4
    beqz    a4, 1f
    addi    a4, a4, -1
    wsr.lcount a4
    rsr.lbeg a3
1:  wsr.epc1 a3
    extui   a5, a5, 4, 4        // t
    bgei    a5, 6, 2f
    movi    a0, .Lsaved
    addx4   a3, a5, a0
    s32i    a2, a3, 0
    j       .Lrestore
2:  addi    a5, a5, -6
    slli    a5, a5, 3
    movi    a3, .Lset_reg
    add     a3, a3, a5
    jx      a3
    .align 8
.Lset_reg:
    .irp    n, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    mov     a\n, a2
    j       .Lrestore
    .align 8
    .endr
.Lrestore:
    movi    a0, .Lsaved
    l32i    a1, a0, 4
    l32i    a2, a0, 8
    l32i    a3, a0, 12
    l32i    a4, a0, 16
    l32i    a5, a0, 20
    l32i    a0, a0, 0
    rfe
.Lnarrow:                       // as the chip: LoadStoreError at this address
    movi    a0, EXCCAUSE_LOAD_STORE_ERROR
    wsr.exccause a0
    j       .Lfatal

.Lfatal_high:
    wsr.excsave1 a0
// An exception the firmware does not handle (as on an ESP32, e.g. LoadStoreError for an 8-bit
// load from IRAM): drop every register window but this one, take a fresh stack and report it in C
// (tinyml_fatal_exception(cause, epc, excvaddr), which resets the board).
.Lfatal:
    rsr.exccause a6
    rsr.epc1 a7
    rsr.excvaddr a8
    rsr.windowbase a2
    ssl     a2
    movi    a3, 1
    sll     a3, a3
    wsr.windowstart a3
    rsync
    movi    a1, _stack_top
    movi    a0, PS_WOE | PS_UM | PS_INTLEVEL(15)
    wsr.ps  a0
    rsync
    movi    a0, 0
    call4   tinyml_fatal_exception
1:  j       1b

// ---- reset -------------------------------------------------------------------------------------
// The sim machine starts the core at its reset vector (0x50000000, system ROM), not at the ELF's
// entry: a jump from there to _start (its address as a literal, which L32R reads backwards).
    .section .reset_vector, "ax"
    .align 4
_ResetVector:
    j       1f
    .align 4
.Lstart_addr:
    .word   _start
1:  l32r    a0, .Lstart_addr
    jx      a0

    .text
    .literal_position
    .align 4
    .global _start
    .type _start, @function
_start:
    movi    a0, 0
    wsr.intenable a0
    wsr.lcount a0
    movi    a0, _vector_table
    wsr.vecbase a0
    movi    a0, 0
    wsr.windowbase a0
    rsync
    movi    a0, 1
    wsr.windowstart a0
    wsr.cpenable a0             // the FPU (coprocessor 0)
    rsync
    // Executable memory: 32-bit loads only, by the handler. The instruction side is execute-only
    // too: QEMU keeps one translation per page for fetches and data, with the rights of whichever
    // made it, so a read-write instruction-side entry would let the code's own loads through.
    movi    a0, ATTR_EXEC_ONLY
    movi    a1, EXEC_REGION
    wdtlb   a0, a1
    witlb   a0, a1
    dsync
    isync
    // Register windows on, user vector for exceptions, level-1 interrupts masked (only WAITI takes them).
    movi    a0, PS_WOE | PS_UM | PS_INTLEVEL(1)
    wsr.ps  a0
    rsync
    movi    a1, _stack_top
    movi    a0, 0               // end of the call chain
    call4   tinyml_start        // copies .data, clears .bss, runs main
1:  j       1b
    .size _start, . - _start

// ---- window spill ----------------------------------------------------------------------------
// void tinyml_window_spill(void): every frame older than the caller's is stored to the stack (a
// chain of call12 frames longer than the 64 physical registers makes the core spill them).
    .align 4
    .global tinyml_window_spill
    .type tinyml_window_spill, @function
tinyml_window_spill:
    entry   a1, 48                  // a call12 caller's frame holds its 8 extra registers
    movi    a14, 5
    call12  .Lspill_deeper
    retw
    .size tinyml_window_spill, . - tinyml_window_spill

    .align 4
.Lspill_deeper:
    entry   a1, 48
    beqz    a2, 1f
    addi    a14, a2, -1
    call12  .Lspill_deeper
1:  retw

// ---- setjmp / longjmp ----------------------------------------------------------------------------
// jmp_buf (17 words): [0..3] the caller's a0..a3 (its base save area, below setjmp's sp),
// [4..11] its a4..a11 for a call8/call12 caller (its extra save area, below its own caller's sp),
// [12] setjmp's return address (with the caller's window size in bits 31..30), [13] setjmp's sp,
// [14] the caller's caller's sp. longjmp discards every live window but its own, puts the saved
// areas back and returns from "setjmp" again: the caller's registers come back by window underflow.
    .align 4
    .global setjmp
    .type setjmp, @function
setjmp:
    entry   a1, 32                  // a call8 caller's frame holds its 4 extra registers
    call8   tinyml_window_spill // the caller's registers are now in its save areas
    addi    a3, a1, -16
    l32i    a4, a3, 0
    l32i    a5, a3, 4
    l32i    a6, a3, 8
    l32i    a7, a3, 12
    s32i    a4, a2, 0
    s32i    a5, a2, 4           // the caller's sp
    s32i    a6, a2, 8
    s32i    a7, a2, 12
    s32i    a0, a2, 48
    s32i    a1, a2, 52
    extui   a3, a0, 30, 2       // the caller's window: 1 = 4 registers, 2 = 8, 3 = 12
    bltui   a3, 2, 2f
    addi    a5, a5, -12
    l32i    a5, a5, 0           // the caller's caller's sp
    s32i    a5, a2, 56
    addi    a6, a5, -16         // end of the extra save area
    slli    a3, a3, 4
    addi    a3, a3, -16         // its size: 16 or 32 bytes
    sub     a5, a6, a3          // its start
    addi    a7, a2, 16
1:  l32i    a4, a5, 0
    s32i    a4, a7, 0
    addi    a5, a5, 4
    addi    a7, a7, 4
    bltu    a5, a6, 1b
2:  movi    a2, 0
    retw
    .size setjmp, . - setjmp

    .align 4
    .global longjmp
    .type longjmp, @function
longjmp:
    entry   a1, 16
    rsr.windowbase a4           // only this window stays live
    ssl     a4
    movi    a5, 1
    sll     a5, a5
    wsr.windowstart a5
    rsync
    l32i    a6, a2, 52          // setjmp's sp
    addi    a7, a6, -16
    l32i    a8, a2, 0
    s32i    a8, a7, 0
    l32i    a8, a2, 4
    s32i    a8, a7, 4
    l32i    a8, a2, 8
    s32i    a8, a7, 8
    l32i    a8, a2, 12
    s32i    a8, a7, 12
    l32i    a0, a2, 48
    extui   a9, a0, 30, 2
    bltui   a9, 2, 2f
    l32i    a10, a2, 56
    addi    a10, a10, -16       // end of the extra save area
    slli    a9, a9, 4
    addi    a9, a9, -16
    sub     a11, a10, a9        // its start
    addi    a7, a2, 16
1:  l32i    a8, a7, 0
    s32i    a8, a11, 0
    addi    a11, a11, 4
    addi    a7, a7, 4
    bltu    a11, a10, 1b
2:  movi    a4, 1
    moveqz  a3, a4, a3          // longjmp(b, 0) returns 1
    mov     a2, a3
    mov     a1, a6
    retw
    .size longjmp, . - longjmp

    .section .bss
    .align 4
.Lsaved:                        // a0..a5 while a load from executable memory is performed
    .space  24
    .global tinyml_iram_loads
tinyml_iram_loads:              // loads performed so far (esp32sim.iram_loads())
    .space  4

// tinyml's emulated boards: qstrs of this port (ports/qemu's qstrdefsport.h, plus "/lib").
// *FORMAT-OFF*
Q(/lib)

/*
 * DWARF constants that the call frame information of .eh_frame uses: call
 * frame instructions (DW_CFA_*), expression operations (DW_OP_*) and pointer
 * encodings (DW_EH_PE_*), with the values of the DWARF 5 standard and the
 * Linux Standard Base's description of .eh_frame. Only the names are here;
 * cfi.c and dwexpr.c say which of them pyperf interprets.
 */
#ifndef PYPERF_NATIVE_DWARF_H
#define PYPERF_NATIVE_DWARF_H

/* Call frame instructions whose operand sits in the low 6 bits. */
#define DW_CFA_HIGH_MASK                  0xc0
#define DW_CFA_LOW_MASK                   0x3f
#define DW_CFA_advance_loc                0x40
#define DW_CFA_offset                     0x80
#define DW_CFA_restore                    0xc0

/* Call frame instructions with operands after the opcode byte. */
#define DW_CFA_nop                        0x00
#define DW_CFA_set_loc                    0x01
#define DW_CFA_advance_loc1               0x02
#define DW_CFA_advance_loc2               0x03
#define DW_CFA_advance_loc4               0x04
#define DW_CFA_offset_extended            0x05
#define DW_CFA_restore_extended           0x06
#define DW_CFA_undefined                  0x07
#define DW_CFA_same_value                 0x08
#define DW_CFA_register                   0x09
#define DW_CFA_remember_state             0x0a
#define DW_CFA_restore_state              0x0b
#define DW_CFA_def_cfa                    0x0c
#define DW_CFA_def_cfa_register           0x0d
#define DW_CFA_def_cfa_offset             0x0e
#define DW_CFA_def_cfa_expression         0x0f
#define DW_CFA_expression                 0x10
#define DW_CFA_offset_extended_sf         0x11
#define DW_CFA_def_cfa_sf                 0x12
#define DW_CFA_def_cfa_offset_sf          0x13
#define DW_CFA_val_offset                 0x14
#define DW_CFA_val_offset_sf              0x15
#define DW_CFA_val_expression             0x16
#define DW_CFA_GNU_args_size              0x2e
#define DW_CFA_GNU_negative_offset_extended 0x2f

/* Expression operations. */
#define DW_OP_addr                        0x03
#define DW_OP_deref                       0x06
#define DW_OP_const1u                     0x08
#define DW_OP_const1s                     0x09
#define DW_OP_const2u                     0x0a
#define DW_OP_const2s                     0x0b
#define DW_OP_const4u                     0x0c
#define DW_OP_const4s                     0x0d
#define DW_OP_const8u                     0x0e
#define DW_OP_const8s                     0x0f
#define DW_OP_constu                      0x10
#define DW_OP_consts                      0x11
#define DW_OP_dup                         0x12
#define DW_OP_drop                        0x13
#define DW_OP_over                        0x14
#define DW_OP_swap                        0x16
#define DW_OP_and                         0x1a
#define DW_OP_minus                       0x1c
#define DW_OP_or                          0x21
#define DW_OP_plus                        0x22
#define DW_OP_plus_uconst                 0x23
#define DW_OP_shl                         0x24
#define DW_OP_shr                         0x25
#define DW_OP_xor                         0x27
#define DW_OP_eq                          0x29
#define DW_OP_ge                          0x2a
#define DW_OP_gt                          0x2b
#define DW_OP_le                          0x2c
#define DW_OP_lt                          0x2d
#define DW_OP_ne                          0x2e
#define DW_OP_lit0                        0x30
#define DW_OP_lit31                       0x4f
#define DW_OP_breg0                       0x70
#define DW_OP_breg31                      0x8f
#define DW_OP_bregx                       0x92
#define DW_OP_nop                         0x96

/* Pointer encodings: the value's format in the low nibble, how it is
 * applied in bits 4-6, DW_EH_PE_indirect in bit 7. */
#define DW_EH_PE_FORMAT_MASK              0x0f
#define DW_EH_PE_APPL_MASK                0x70
#define DW_EH_PE_absptr                   0x00
#define DW_EH_PE_uleb128                  0x01
#define DW_EH_PE_udata2                   0x02
#define DW_EH_PE_udata4                   0x03
#define DW_EH_PE_udata8                   0x04
#define DW_EH_PE_sleb128                  0x09
#define DW_EH_PE_sdata2                   0x0a
#define DW_EH_PE_sdata4                   0x0b
#define DW_EH_PE_sdata8                   0x0c
#define DW_EH_PE_pcrel                    0x10
#define DW_EH_PE_textrel                  0x20
#define DW_EH_PE_datarel                  0x30
#define DW_EH_PE_funcrel                  0x40
#define DW_EH_PE_aligned                  0x50
#define DW_EH_PE_indirect                 0x80
#define DW_EH_PE_omit                     0xff

/* .eh_frame entries: a CIE has id 0; 0xffffffff as length marks 64-bit
 * DWARF, which .eh_frame does not use. */
#define EH_CIE_ID                         0
#define EH_LEN_DWARF64                    0xffffffffu

#endif

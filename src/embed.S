/* SPDX-License-Identifier: GPL-2.0-only */
/* The embedded default configuration, linked in as read-only data (NUL-terminated). */
	.section .rodata
	.global aegis_default_config
	.balign 16
aegis_default_config:
	.incbin "src/default.yaml"
	.byte 0
	.global aegis_default_config_end
aegis_default_config_end:
	.section .note.GNU-stack,"",@progbits

/* What the ESP32's ROM loads from flash at 0x1000 (the place of the second-stage bootloader) into
   IRAM and DRAM, checks and calls, on a board that `make flash` wrote: it says so on UART0 and names
   the app it finds at 0x10000 (its esp_app_desc_t), read through the ROM's own flash routine. */

#define ROM_uart_tx_one_char ((int (*)(unsigned char))0x40009200)
#define ROM_SPIRead ((int (*)(unsigned int, void *, unsigned int))0x40062ed8)
#define APP_OFFSET 0x10000
#define APP_DESC_MAGIC 0xABCD5432u

static void say(const char *s) {
    while (*s) {
        ROM_uart_tx_one_char((unsigned char)*s++);
    }
}

static void say_field(const char *p, int n) {  /* a NUL-padded string field of the descriptor */
    for (int i = 0; i < n && p[i]; i++) {
        ROM_uart_tx_one_char((unsigned char)(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?'));
    }
}

void call_start_cpu0(void) {
    /* the image header (24 bytes) and the first segment's header (8) come before the descriptor */
    unsigned int desc[32];
    say("\r\ntinyml flash boot: started by the ESP32 ROM from flash at 0x1000\r\n");
    if (ROM_SPIRead(APP_OFFSET + 24 + 8, desc, sizeof(desc)) == 0 && desc[0] == APP_DESC_MAGIC) {
        say("app at 0x10000: ");
        say_field((const char *)desc + 48, 32);  /* project_name */
        say(" ");
        say_field((const char *)desc + 16, 32);  /* version */
        say("\r\n");
    } else {
        say("app at 0x10000: none\r\n");
    }
    for (;;) {
    }
}

#ifndef OTA_CONFIG_H
#define OTA_CONFIG_H
#define otaconfigMAX_NUM_BLOCKS_REQUEST        ( 1U )
#define OTA_USE_NEW_SIGNER                     ( 1 )   /* rotated */
#define BASE 0x10UL
#define LEVEL ( BASE / 8 + 1 ) \
  * 1
#define SELF SELF
#define F(x) ((x) + 1)
#if ( OTA_USE_NEW_SIGNER == 1 ) && ( otaconfigMAX_NUM_BLOCKS_REQUEST >= 1U )
#define otapalconfigCODE_SIGNING_CERTIFICATE "-----BEGIN CERTIFICATE-----\n" "MIIB"
#elif LEVEL > 2 ? defined SELF : -1 < 0U || F(1) || __has_include(<x.h>)
static const unsigned char d[] = { 0x30, 0x82, 0x01, 0x0a };
#elif (1 << 63) / -1 % 0 || 0b101 == 5 || 08 || 1.0 || 'a' || ~0 >> 65
#endif
#if ELSEWHERE
#undef LEVEL
#define BASE 2
#endif
#if LEVEL == BASE
"x"
#endif
#endif

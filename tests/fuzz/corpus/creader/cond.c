#define USE_PROD 1
#if defined(USE_PROD) && !LEGACY
static const char k[] = "-----BEGIN CERTIFICATE-----\n" \
  "MIIB";
#else
/* old */ static const unsigned char d[] = { 0x30, 0x82, 0x01, 0x0a };
#endif
#undef USE_PROD

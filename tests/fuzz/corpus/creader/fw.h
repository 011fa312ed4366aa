/*
 * Code-signing certificate for FreeRTOS OTA, exported by signet (format ota-pal).
 * subject:      CN=ota-signer
 * issuer:       CN=ota-signer
 * serial:       65729D25032B4ADB31A7E654B34CD1CC
 * not before:   2026-11-30T03:02:48Z
 * not after:    2027-11-30T03:02:48Z
 * key:          ecdsa-p256
 * SPKI SHA-256: 85a6e1e2ae13ea4dba57d223b87983d3c4986b323fb652d977d261de858fcad0
 *
 * The device checks update signatures with this public key only;
 * sign images with the matching key: signet sign IMAGE --key LABEL.
 */
#ifndef SIGNET_OTAPALCONFIGCODE_SIGNING_CERTIFICATE_H
#define SIGNET_OTAPALCONFIGCODE_SIGNING_CERTIFICATE_H

#define otapalconfigCODE_SIGNING_CERTIFICATE \
    "-----BEGIN CERTIFICATE-----\n" \
    "MIIBmTCCAUCgAwIBAgIQZXKdJQMrStsxp+ZUs0zRzDAKBggqhkjOPQQDAjAVMRMw\n" \
    "EQYDVQQDDApvdGEtc2lnbmVyMB4XDTI2MTEzMDAzMDI0OFoXDTI3MTEzMDAzMDI0\n" \
    "OFowFTETMBEGA1UEAwwKb3RhLXNpZ25lcjBZMBMGByqGSM49AgEGCCqGSM49AwEH\n" \
    "A0IABHSy6XacDYXylkRy681TGcH3A6Z+aWQr87RS+yKol+EY4Dw3KsWsiNgiUB8S\n" \
    "6tOJPnSMVyOKvzGrZMaq2Wh8J0ejcjBwMAkGA1UdEwQCMAAwDgYDVR0PAQH/BAQD\n" \
    "AgeAMBMGA1UdJQQMMAoGCCsGAQUFBwMDMB0GA1UdDgQWBBS++WfwyGOb5XRfMTHQ\n" \
    "ctCu1grr9zAfBgNVHSMEGDAWgBS++WfwyGOb5XRfMTHQctCu1grr9zAKBggqhkjO\n" \
    "PQQDAgNHADBEAiA8sQLpjKmXppK21sa0okTBdfiX42H5fhtNm1pWYD569wIgTRcF\n" \
    "6bverl0xi/WReMwgl0u7mdi2/tjl4DO2xI+fLMM=\n" \
    "-----END CERTIFICATE-----\n"

#endif /* SIGNET_OTAPALCONFIGCODE_SIGNING_CERTIFICATE_H */

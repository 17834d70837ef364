/* ProcessPrng, the one function of bcryptprimitives.dll that Rust's standard library imports on Windows (for its
 * hash maps' random keys). Wine before 9.0 has no such DLL, so a Windows test binary would not start under it;
 * scripts/windows-under-wine.sh builds this stand-in with MinGW then. It fills the buffer from RtlGenRandom
 * (SystemFunction036 in advapi32), which Wine has.
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
    if (!SystemFunction036(data, chunk)) {
      return FALSE;
    }
    data += chunk;
    len -= chunk;
  }
  return TRUE;
}

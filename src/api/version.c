/* version.c: the library's version at run time (the header's may be older or newer). */
#include "facerec.h"

const char *fr_version(void)
{
    return FR_VERSION_STRING;
}

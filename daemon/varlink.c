/* placeholder until the module lands */
#include "lockwatch/util.h"

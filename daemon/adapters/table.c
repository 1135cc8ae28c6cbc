#include "lockwatch/table.h"

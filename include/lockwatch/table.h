/* Shared by the html-table and markdown-table adapters: the column spec
 * ("Header:field, Header:field"), header matching, and turning one row of cell
 * texts into observations. Pure. */
#pragma once

#include "lockwatch/adapter.h"

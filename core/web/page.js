// The consumer page (placeholder until the page lands).
"use strict";

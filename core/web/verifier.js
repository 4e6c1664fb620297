// The in-browser verifier (placeholder until it lands).
"use strict";

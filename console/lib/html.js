// Preact with htm: components as tagged templates, no build step.

import { h, render, Fragment, createRef } from '../vendor/preact.module.js';
import htm from '../vendor/htm.module.js';

export const html = htm.bind(h);
export { h, render, Fragment, createRef };
export { useState, useEffect, useRef, useMemo, useCallback, useLayoutEffect } from '../vendor/hooks.module.js';

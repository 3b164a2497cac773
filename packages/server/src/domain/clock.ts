/** Clock and randomness are injected (docs/architecture.md §9) so expiry and rotation are tested deterministically. */
export type Clock = () => number;
export const systemClock: Clock = () => Date.now();

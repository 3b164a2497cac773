/** Clock and randomness are injected (STYLE.md) so expiry and rotation are tested deterministically. */
export type Clock = () => number;
export const systemClock: Clock = () => Date.now();

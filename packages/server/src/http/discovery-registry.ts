/**
 * Discovery metadata is contributed by the features that implement it, so the documents
 * (RFC 8414, OIDC Discovery 1.0 §3) list exactly what this server does. Arrays merge; scalars must agree.
 */
export type DiscoveryMetadata = Record<string, string | boolean | string[]>;

export class DiscoveryRegistry {
  private readonly metadata: DiscoveryMetadata = {};

  add(entries: DiscoveryMetadata): void {
    for (const [key, value] of Object.entries(entries)) {
      const existing = this.metadata[key];
      if (Array.isArray(value)) {
        const merged = Array.isArray(existing) ? existing : [];
        for (const v of value) if (!merged.includes(v)) merged.push(v);
        this.metadata[key] = merged;
      } else if (existing !== undefined && existing !== value) {
        throw new Error(`discovery: conflicting values for ${key}`);
      } else {
        this.metadata[key] = value;
      }
    }
  }

  document(): DiscoveryMetadata {
    return structuredClone(this.metadata);
  }
}

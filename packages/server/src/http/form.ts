/**
 * application/x-www-form-urlencoded bodies for the OAuth endpoints. RFC 6749 §3.1/§3.2: "Request
 * and response parameters MUST NOT be included more than once", so duplicates are kept visible
 * for the endpoint to reject with invalid_request.
 */
export class FormParams {
  private readonly values = new Map<string, string>();
  readonly duplicates: string[] = [];

  constructor(body: string) {
    if (body === '') return;
    for (const [key, value] of new URLSearchParams(body)) {
      if (this.values.has(key)) {
        if (!this.duplicates.includes(key)) this.duplicates.push(key);
        continue;
      }
      this.values.set(key, value);
    }
  }

  static fromRecord(record: Record<string, unknown>): FormParams {
    const params = new FormParams('');
    for (const [key, value] of Object.entries(record)) {
      if (Array.isArray(value)) {
        params.duplicates.push(key);
        params.values.set(key, String(value[0]));
      } else if (value !== undefined) {
        params.values.set(key, String(value));
      }
    }
    return params;
  }

  /** A parameter sent with an empty value is treated as omitted (RFC 6749 §3.1). */
  get(name: string): string | undefined {
    const v = this.values.get(name);
    return v === '' ? undefined : v;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  keys(): string[] {
    return [...this.values.keys()];
  }

  toObject(): Record<string, string> {
    return Object.fromEntries(this.values);
  }
}

export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

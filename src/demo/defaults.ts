/** The demo's defaults that its CLI needs before loading the demo itself. */
export const DEFAULT_API_PORT = 16443;

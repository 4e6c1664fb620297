// Placeholder until the keystore lands.

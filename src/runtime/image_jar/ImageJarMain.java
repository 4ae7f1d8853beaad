package flinkops.launcher;

import java.io.InputStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.util.Properties;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

/**
 * The entry class of the jar flinkops uploads for a session job whose jar is in its
 * cluster's image and names no entryClass (src/image_jar.rs). It reads the image jar's
 * path from flinkops-image-jar.properties, finds that jar's entry class in its manifest
 * (program-class, else Main-Class, as Flink does) and calls its main method with the job's
 * arguments, through the class loader Flink runs it with (whose class path names the image
 * jar). What that main method throws is thrown as it is, so Flink sees what it would have
 * seen calling it directly.
 *
 * Built with scripts/build-image-jar-main (javac --release 8); the class file is committed
 * next to this file.
 */
public final class ImageJarMain {
    private ImageJarMain() {}

    public static void main(String[] args) throws Throwable {
        ClassLoader loader = ImageJarMain.class.getClassLoader();
        Properties p = new Properties();
        try (InputStream in = loader.getResourceAsStream("flinkops-image-jar.properties")) {
            if (in == null) {
                throw new IllegalStateException("flinkops-image-jar.properties is missing");
            }
            p.load(in);
        }
        String jar = p.getProperty("jar");
        String entry = null;
        try (JarFile file = new JarFile(jar)) {
            Manifest m = file.getManifest();
            if (m != null) {
                Attributes a = m.getMainAttributes();
                entry = a.getValue("program-class");
                if (entry == null) {
                    entry = a.getValue("Main-Class");
                }
            }
        }
        if (entry == null) {
            throw new IllegalArgumentException(
                    jar + " names no entry class in its manifest (program-class or Main-Class): set the job's entryClass");
        }
        Method main = Class.forName(entry.trim(), true, loader).getMethod("main", String[].class);
        if (!Modifier.isStatic(main.getModifiers())) {
            throw new IllegalArgumentException(entry + ".main is not static");
        }
        try {
            main.invoke(null, (Object) args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
